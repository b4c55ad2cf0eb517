/* Typedefs that libbpf's bpf_helper_defs.h uses but the emulated kernel's BTF
 * does not (yet) hold, so the generated vmlinux.h lacks them. A real kernel's
 * vmlinux.h has them all. Repeating a typedef with the same type is valid C11,
 * so this header stays harmless once the kernel model adds them.
 * Include it after vmlinux.h and before <bpf/bpf_helpers.h>.
 */
#ifndef __STRUCTOPS_BPF_COMPAT_H
#define __STRUCTOPS_BPF_COMPAT_H
typedef signed char __s8;
typedef short int __s16;
typedef short unsigned int __u16;
typedef long long int __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
#endif
