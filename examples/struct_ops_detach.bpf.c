// SPDX-License-Identifier: GPL-2.0
/* A link map with no callbacks, attached then detached with BPF_LINK_DETACH
 * (after the kernel selftest struct_ops_detach).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC(".struct_ops.link")
struct bpf_testmod_ops testmod_do_detach;
