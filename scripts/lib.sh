# shellcheck shell=bash
# Sourced by the project's scripts: finds a JDK >= 21 and exports JAVA_HOME.
# The machine's default java may be 17; we never rely on it.

fastvm_java_major() { # $1 = JAVA_HOME candidate; prints its feature version or nothing
  [ -x "$1/bin/javac" ] || return 0
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n1
}

fastvm_find_jdk() {
  local c major
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/* /opt/java/* /opt/jdk*; do
    [ -d "$c" ] || continue # also skips an empty JAVA_HOME
    major=$(fastvm_java_major "$c")
    if [ -n "$major" ] && [ "$major" -ge 21 ]; then
      export JAVA_HOME="$c"
      return 0
    fi
  done
  echo "fastvm: no JDK >= 21 found (looked at \$JAVA_HOME and /usr/lib/jvm/*). Install one, e.g. 'apt-get install -y openjdk-21-jdk-headless' where available, or set JAVA_HOME." >&2
  return 1
}
