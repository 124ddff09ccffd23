# Writes vmlinux.h (every type of the kernel, as C) from a BTF file, for the
# BPF programs' CO-RE relocations. Run at build time:
#   cmake -DBPFTOOL=... -DBTF=/sys/kernel/btf/vmlinux -DOUT=vmlinux.h -P gen_vmlinux.cmake
# The types only describe layouts for clang; libbpf relocates every field
# access against the running kernel's BTF when it loads the programs, so no
# kernel version is baked in.
if(NOT EXISTS "${BTF}")
  message(FATAL_ERROR
    "tcpq BPF: ${BTF} does not exist: this kernel was built without "
    "CONFIG_DEBUG_INFO_BTF, so vmlinux.h cannot be generated. Build on a "
    "kernel with BTF, or pass -DTCPQ_VMLINUX_BTF=<path to a vmlinux BTF "
    "file> (e.g. from a BTFHub archive) to cmake.")
endif()
execute_process(
  COMMAND "${BPFTOOL}" btf dump file "${BTF}" format c
  OUTPUT_FILE "${OUT}.tmp"
  ERROR_VARIABLE err
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${OUT}.tmp")
  message(FATAL_ERROR "tcpq BPF: '${BPFTOOL} btf dump file ${BTF}' failed: ${err}")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
