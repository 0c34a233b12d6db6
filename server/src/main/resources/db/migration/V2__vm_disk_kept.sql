-- Whether a VM in error still has its files (disk layers, RAM) on the host, so its disk counts
-- against quota until it is deleted (1), or had none left (a boot that failed or was rolled back: 0).
ALTER TABLE vms ADD COLUMN disk_kept INTEGER NOT NULL DEFAULT 1;
