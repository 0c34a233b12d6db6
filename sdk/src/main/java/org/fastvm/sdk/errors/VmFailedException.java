package org.fastvm.sdk.errors;

import java.util.Optional;
import org.fastvm.sdk.models.VM;
import org.fastvm.sdk.models.VMStatus;

/**
 * While the client waited for a VM to become {@code running} (launch, restore), the VM
 * reached a terminal failure status: {@code error}, {@code stopped} or {@code deleting}.
 * The VM may still exist and count against quota; remove it with {@code client.remove(vm())}.
 */
public class VmFailedException extends FastVMException {
    private static final long serialVersionUID = 1L;

    private final transient VM vm;

    /**
     * Creates the exception.
     *
     * @param vm the VM as last seen, in its terminal status
     */
    public VmFailedException(VM vm) {
        super("VM " + vm.id() + " reached status " + vm.status().asString() + " instead of running");
        this.vm = vm;
    }

    /**
     * The VM as last seen.
     *
     * @return the VM in its terminal status
     */
    public VM vm() {
        return vm;
    }

    @Override
    public Optional<String> resourceId() {
        return Optional.ofNullable(vm).map(VM::id);
    }

    @Override
    public Optional<String> lastStatus() {
        return Optional.ofNullable(vm).map(VM::status).map(VMStatus::asString);
    }
}
