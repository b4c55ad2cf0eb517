// SPDX-License-Identifier: Apache-2.0
/*
 * rawcases: print the raw-instruction tests of the kernel's
 * tools/testing/selftests/bpf/verifier/ files as JSON lines.
 *
 * Those files are initialiser lists of test_verifier's `struct bpf_test`
 * (positional description first, then designated fields). We declare our own
 * struct with the field names they use, include each file into its own array
 * (the list comes from the generated "rawcases_files.h", which build.py
 * writes), and print what a loader needs: the instructions (hex), program
 * type, expected attach type, flags, the expected result and log substrings
 * (privileged and unprivileged), the test runs (input data, expected return
 * value) and the fixups (which instruction takes which map's fd, kfunc BTF
 * ids, func_info and a raw BTF blob).
 *
 * The instruction macros come from the kernel tree (tools/include/linux/filter.h);
 * the few instruction-sequence macros test_verifier.c itself defines are
 * extracted from the tree by build.py into "rawcases_macros.h". Tests whose
 * program test_verifier generates at run time (.fill_helper) are listed with
 * no instructions.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <linux/btf.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/types.h>

#include "test_btf.h"

#ifndef offsetofend
#define offsetofend(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))
#endif

#define MAX_INSNS BPF_MAXINSNS
#define MAX_EXPECTED_INSNS 32
#define MAX_UNEXPECTED_INSNS 32
#define MAX_FIXUPS 8
#define MAX_TEST_RUNS 8
#define POINTER_VALUE 0xcafe4all
#define TEST_DATA_LEN 64
#define MAX_FUNC_INFOS 8
#define MAX_BTF_STRINGS 256
#define MAX_BTF_TYPES 256
#define INSN_OFF_MASK ((__s16)0xFFFF)
#define INSN_IMM_MASK ((__s32)0xFFFFFFFF)
#define SKIP_INSNS() BPF_RAW_INSN(0xde, 0xa, 0xd, 0xbeef, 0xdeadbeef)

/* test_verifier's flags (the low two bits are its own; the rest are prog_flags) */
#define F_NEEDS_EFFICIENT_UNALIGNED_ACCESS (1 << 0)
#define F_LOAD_WITH_STRICT_ALIGNMENT (1 << 1)
#define F_NEEDS_JIT_ENABLED (1 << 2)

/* map value layouts the tests address (11 ints after an index: 48 bytes; two longs: 16) */
#define MAX_ENTRIES 11
struct test_val {
	unsigned int index;
	int foo[MAX_ENTRIES];
};
struct other_val {
	long long foo;
	long long bar;
};

enum expect { UNDEF, ACCEPT, REJECT, VERBOSE_ACCEPT };

struct kfunc_fixup {
	const char *kfunc;
	int insn_idx;
};

/* one test run: the body is spelled twice (the first run's fields are also
 * named directly: .retval, .data) */
#define RUN_FIELDS                                         \
	struct {                                           \
		uint32_t retval, retval_unpriv;            \
		union {                                    \
			__u8 data[TEST_DATA_LEN];          \
			__u64 data64[TEST_DATA_LEN / 8];   \
		};                                         \
	}

struct bpf_test {
	const char *descr;
	struct bpf_insn insns[MAX_INSNS];
	struct bpf_insn expected_insns[MAX_EXPECTED_INSNS];
	struct bpf_insn unexpected_insns[MAX_UNEXPECTED_INSNS];
	int fixup_map_hash_8b[MAX_FIXUPS];
	int fixup_map_hash_48b[MAX_FIXUPS];
	int fixup_map_hash_16b[MAX_FIXUPS];
	int fixup_map_array_48b[MAX_FIXUPS];
	int fixup_map_sockmap[MAX_FIXUPS];
	int fixup_map_sockhash[MAX_FIXUPS];
	int fixup_map_xskmap[MAX_FIXUPS];
	int fixup_map_stacktrace[MAX_FIXUPS];
	int fixup_prog1[MAX_FIXUPS];
	int fixup_prog2[MAX_FIXUPS];
	int fixup_map_in_map[MAX_FIXUPS];
	int fixup_cgroup_storage[MAX_FIXUPS];
	int fixup_percpu_cgroup_storage[MAX_FIXUPS];
	int fixup_map_spin_lock[MAX_FIXUPS];
	int fixup_map_array_ro[MAX_FIXUPS];
	int fixup_map_array_wo[MAX_FIXUPS];
	int fixup_map_array_small[MAX_FIXUPS];
	int fixup_sk_storage_map[MAX_FIXUPS];
	int fixup_map_event_output[MAX_FIXUPS];
	int fixup_map_reuseport_array[MAX_FIXUPS];
	int fixup_map_ringbuf[MAX_FIXUPS];
	int fixup_map_timer[MAX_FIXUPS];
	int fixup_map_kptr[MAX_FIXUPS];
	struct kfunc_fixup fixup_kfunc_btf_id[MAX_FIXUPS];
	const char *errstr;
	const char *errstr_unpriv;
	uint32_t insn_processed;
	int prog_len;
	enum expect result, result_unpriv;
	enum bpf_prog_type prog_type;
	uint8_t flags;
	void (*fill_helper)(struct bpf_test *self);
	int runs;
	union {
		RUN_FIELDS;
		RUN_FIELDS retvals[MAX_TEST_RUNS];
	};
	enum bpf_attach_type expected_attach_type;
	const char *kfunc;
	struct bpf_func_info func_info[MAX_FUNC_INFOS];
	int func_info_cnt;
	char btf_strings[MAX_BTF_STRINGS];
	__u32 btf_types[MAX_BTF_TYPES];
};

/* The run-time generators test_verifier provides: only their names are needed here. */
#define FILL(name) static void name(struct bpf_test *self) { (void)self; }
FILL(bpf_fill_ld_abs_vlan_push_pop)
FILL(bpf_fill_jump_around_ld_abs)
FILL(bpf_fill_rand_ld_dw)
FILL(bpf_fill_scale)
FILL(bpf_fill_torturous_jumps)
FILL(bpf_fill_big_prog_with_loop_1)

#include "rawcases_macros.h"

struct file_tests {
	const char *file;
	struct bpf_test *tests;
	int n;
};

#include "rawcases_files.h"

static void jstr(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch == '\t')
			fputs("\\t", stdout);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static const char *result_name(enum expect r)
{
	switch (r) {
	case ACCEPT:
		return "\"accept\"";
	case REJECT:
		return "\"reject\"";
	case VERBOSE_ACCEPT:
		return "\"verbose_accept\"";
	default:
		return "null";
	}
}

/* test_verifier's probe_filter_length: the program ends at its last non-zero insn */
static int prog_len(const struct bpf_insn *fp)
{
	int len;

	for (len = MAX_INSNS - 1; len > 0; --len)
		if (fp[len].code != 0 || fp[len].imm != 0)
			break;
	return len + 1;
}

static void hex(const void *p, size_t n)
{
	const unsigned char *b = p;

	putchar('"');
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	putchar('"');
}

static void fixup(const char *name, const int *idx, int *first)
{
	if (!idx[0])
		return;
	printf("%s\"%s\":[", *first ? "" : ",", name);
	*first = 0;
	for (int i = 0; i < MAX_FIXUPS && idx[i]; i++)
		printf("%s%d", i ? "," : "", idx[i]);
	putchar(']');
}

static void emit(const char *file, int index, struct bpf_test *t)
{
	printf("{\"file\":");
	jstr(file);
	printf(",\"index\":%d,\"descr\":", index);
	jstr(t->descr);
	if (t->fill_helper) {
		printf(",\"insns_hex\":null,\"generated\":true");
	} else {
		printf(",\"insns_hex\":");
		hex(t->insns, sizeof(struct bpf_insn) * prog_len(t->insns));
	}
	printf(",\"prog_type\":%d,\"expected_attach_type\":%d,\"flags\":%u", t->prog_type, t->expected_attach_type,
	       t->flags);
	printf(",\"result\":%s,\"result_unpriv\":%s,\"errstr\":", result_name(t->result),
	       result_name(t->result_unpriv));
	jstr(t->errstr);
	printf(",\"errstr_unpriv\":");
	jstr(t->errstr_unpriv);
	printf(",\"insn_processed\":%u,\"kfunc\":", t->insn_processed);
	jstr(t->kfunc);
	int runs = t->runs;
	printf(",\"runs\":[");
	if (runs >= 0) {
		if (!runs)
			runs = 1;
		for (int i = 0; i < runs && i < MAX_TEST_RUNS; i++) {
			printf("%s{\"retval\":%u,\"retval_unpriv\":%u,\"data\":", i ? "," : "", t->retvals[i].retval,
			       t->retvals[i].retval_unpriv);
			hex(t->retvals[i].data, TEST_DATA_LEN);
			putchar('}');
		}
	}
	printf("],\"fixups\":{");
	int first = 1;
	fixup("map_hash_8b", t->fixup_map_hash_8b, &first);
	fixup("map_hash_48b", t->fixup_map_hash_48b, &first);
	fixup("map_hash_16b", t->fixup_map_hash_16b, &first);
	fixup("map_array_48b", t->fixup_map_array_48b, &first);
	fixup("map_sockmap", t->fixup_map_sockmap, &first);
	fixup("map_sockhash", t->fixup_map_sockhash, &first);
	fixup("map_xskmap", t->fixup_map_xskmap, &first);
	fixup("map_stacktrace", t->fixup_map_stacktrace, &first);
	fixup("prog1", t->fixup_prog1, &first);
	fixup("prog2", t->fixup_prog2, &first);
	fixup("map_in_map", t->fixup_map_in_map, &first);
	fixup("cgroup_storage", t->fixup_cgroup_storage, &first);
	fixup("percpu_cgroup_storage", t->fixup_percpu_cgroup_storage, &first);
	fixup("map_spin_lock", t->fixup_map_spin_lock, &first);
	fixup("map_array_ro", t->fixup_map_array_ro, &first);
	fixup("map_array_wo", t->fixup_map_array_wo, &first);
	fixup("map_array_small", t->fixup_map_array_small, &first);
	fixup("sk_storage_map", t->fixup_sk_storage_map, &first);
	fixup("map_event_output", t->fixup_map_event_output, &first);
	fixup("map_reuseport_array", t->fixup_map_reuseport_array, &first);
	fixup("map_ringbuf", t->fixup_map_ringbuf, &first);
	fixup("map_timer", t->fixup_map_timer, &first);
	fixup("map_kptr", t->fixup_map_kptr, &first);
	printf("},\"kfunc_fixups\":[");
	for (int i = 0; i < MAX_FIXUPS && t->fixup_kfunc_btf_id[i].kfunc; i++) {
		printf("%s{\"kfunc\":", i ? "," : "");
		jstr(t->fixup_kfunc_btf_id[i].kfunc);
		printf(",\"insn\":%d}", t->fixup_kfunc_btf_id[i].insn_idx);
	}
	printf("],\"func_info\":[");
	for (int i = 0; i < t->func_info_cnt && i < MAX_FUNC_INFOS; i++)
		printf("%s[%u,%u]", i ? "," : "", t->func_info[i].insn_off, t->func_info[i].type_id);
	printf("]");
	if (t->btf_types[0]) {
		int n = 0;

		while (n < MAX_BTF_TYPES && t->btf_types[n] != BTF_END_RAW)
			n++;
		printf(",\"btf_types_hex\":");
		hex(t->btf_types, n * sizeof(__u32));
		printf(",\"btf_strings_hex\":");
		hex(t->btf_strings, sizeof(t->btf_strings));
	}
	printf(",\"checks_xlated\":%s}\n",
	       (t->expected_insns[0].code || t->expected_insns[0].imm || t->unexpected_insns[0].code ||
		t->unexpected_insns[0].imm) ? "true" : "false");
}

int main(void)
{
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++)
		for (int i = 0; i < files[f].n; i++)
			emit(files[f].file, i, &files[f].tests[i]);
	return 0;
}
