// SPDX-License-Identifier: Apache-2.0
/*
 * label: load each BPF program of a clang-compiled object alone into the
 * running kernel through libbpf, and print one JSON line per program with
 * what the kernel answered.
 *
 *   label [--retval] OBJ.o [PROG ...]
 *
 * Each program is loaded in a fresh bpf_object: its own autoload on, every
 * other program's off, every map it needs created by libbpf (unpinned),
 * log level 1 plus statistics (BPF_LOG_STATS) into our own buffer.
 *
 * Safety (this runs as root on a shared machine):
 *  - nothing is attached, pinned or linked: every bpf() command libbpf issues
 *    goes through bpf_guard() below, which lets only the commands of a
 *    verify-only load through (map/BTF/prog creation, element updates, info)
 *    and refuses the rest with EPERM;
 *  - no struct_ops map is ever created: libbpf is told not to (the map's type
 *    is changed to a plain array and its autocreate cleared), and the guard
 *    refuses BPF_MAP_CREATE of BPF_MAP_TYPE_STRUCT_OPS anyway. A struct_ops
 *    program is loaded without its map, with the attach_btf_id (the kernel's
 *    struct type) and expected_attach_type (the member index) libbpf would
 *    have given it from the map (libbpf 1.5, bpf_map__init_kern_struct_ops);
 *  - BPF_PROG_TEST_RUN (--retval: 64 zero bytes in, as the selftests' test_loader)
 *    runs only accepted programs the selftest gives a __retval, and only where
 *    the test run cannot act on the machine: socket filters, tc
 *    classifiers/actions, XDP (no live frames), cgroup skb, and no program
 *    calling bpf_clone_redirect (which transmits a copy of the packet).
 *
 * Built against the libbpf of the kernel tree the objects come from (its
 * tools/lib/bpf, libbpf.a): the distribution's libbpf is older than the
 * objects. This is our own code; it only calls libbpf's public API.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define LOG_SIZE (64u << 20)
#define MAX_PROGS 1024

static char *logbuf;
static char release[128];

/* ---- the bpf() guard --------------------------------------------------- */

struct load_seen {
	bool seen;
	int err;		/* errno of the last BPF_PROG_LOAD into logbuf, 0 if ok */
	__u32 prog_type, expected_attach_type, prog_flags, insn_cnt, log_level;
	__u32 attach_btf_id, prog_btf_fd, func_info_cnt;
};
static struct load_seen last_load;
static int maps_refused_eperm;	/* BPF_MAP_CREATE answered EPERM (host policy: arena) */
static __u32 map_refused_type;
static int guard_refusals;

typedef long (*syscall_fn)(long, ...);

static long real_syscall(long nr, long a, long b, long c, long d, long e)
{
	static syscall_fn fn;

	if (!fn)
		fn = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	return fn(nr, a, b, c, d, e);
}

static bool cmd_allowed(int cmd)
{
	switch (cmd) {
	case BPF_MAP_CREATE:
	case BPF_MAP_LOOKUP_ELEM:
	case BPF_MAP_UPDATE_ELEM:
	case BPF_MAP_DELETE_ELEM:
	case BPF_MAP_GET_NEXT_KEY:
	case BPF_MAP_FREEZE:
	case BPF_PROG_LOAD:
	case BPF_PROG_TEST_RUN:
	case BPF_PROG_BIND_MAP:
	case BPF_OBJ_GET_INFO_BY_FD:
	case BPF_BTF_LOAD:
	case BPF_BTF_GET_FD_BY_ID:
	case BPF_BTF_GET_NEXT_ID:
	case BPF_MAP_GET_FD_BY_ID:
	case BPF_PROG_GET_FD_BY_ID:
		return true;
	default:
		return false;
	}
}

/* libbpf reaches the kernel through syscall(__NR_bpf, ...): this definition
 * (in the executable) takes the place of libc's for the statically linked
 * libbpf.a. */
long syscall(long nr, ...)
{
	va_list ap;
	long a, b, c, d, e, ret;

	va_start(ap, nr);
	a = va_arg(ap, long);
	b = va_arg(ap, long);
	c = va_arg(ap, long);
	d = va_arg(ap, long);
	e = va_arg(ap, long);
	va_end(ap);
	if (nr != __NR_bpf)
		return real_syscall(nr, a, b, c, d, e);

	int cmd = (int)a;
	union bpf_attr *attr = (union bpf_attr *)b;

	if (!cmd_allowed(cmd) || (cmd == BPF_MAP_CREATE && attr->map_type == BPF_MAP_TYPE_STRUCT_OPS)) {
		guard_refusals++;
		if (getenv("LABEL_DEBUG"))
			fprintf(stderr, "label: refused bpf command %d\n", cmd);
		errno = EPERM;
		return -1;
	}
	ret = real_syscall(nr, a, b, c, d, e);
	if (cmd == BPF_MAP_CREATE && ret < 0 && errno == EPERM) {
		maps_refused_eperm++;
		map_refused_type = attr->map_type;
	}
	if (cmd == BPF_PROG_LOAD && attr->log_buf == (__u64)(unsigned long)logbuf) {
		int saved = errno;

		last_load.seen = true;
		last_load.err = ret < 0 ? saved : 0;
		last_load.prog_type = attr->prog_type;
		last_load.expected_attach_type = attr->expected_attach_type;
		last_load.prog_flags = attr->prog_flags;
		last_load.insn_cnt = attr->insn_cnt;
		last_load.log_level = attr->log_level;
		last_load.attach_btf_id = attr->attach_btf_id;
		last_load.prog_btf_fd = attr->prog_btf_fd;
		last_load.func_info_cnt = attr->func_info_cnt;
		errno = saved;
	}
	return ret;
}

/* ---- libbpf's messages ----------------------------------------------------- */

static char libbpf_msgs[8][512];
static int libbpf_nmsg;

static int on_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[4096];

	if (level != LIBBPF_WARN)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (strstr(line, "-- BEGIN PROG LOAD LOG --"))
		return 0;
	size_t n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = 0;
	if (libbpf_nmsg == 8) {
		memmove(libbpf_msgs[0], libbpf_msgs[1], sizeof(libbpf_msgs[0]) * 7);
		libbpf_nmsg = 7;
	}
	snprintf(libbpf_msgs[libbpf_nmsg++], sizeof(libbpf_msgs[0]), "%s", line);
	return 0;
}

/* ---- JSON output ---------------------------------------------------------- */

static void jstr(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
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

static void jkey(const char *k, bool *first)
{
	if (!*first)
		putchar(',');
	*first = false;
	jstr(k);
	putchar(':');
}

/* ---- struct_ops programs without their map ------------------------------------ */

struct st_target {
	char prog[128];
	char tname[128];	/* the struct in the object (and the kernel) */
	char mname[128];	/* the member the program is assigned to */
};
static struct st_target st_targets[MAX_PROGS];
static int st_ntargets;
static struct btf *vmlinux_btf;

/* The current program's attach target, filled before bpf_object__load. */
static struct {
	bool set;
	__u32 btf_id, member;
	int btf_obj_fd;
	char err[512];
} cur_st;

/* libbpf 1.5 sets these from the struct_ops map in bpf_map__init_kern_struct_ops:
 * attach_btf_id = the kernel's type id of the struct, expected_attach_type =
 * the member's index in the kernel's struct; BPF_F_SLEEPABLE for struct_ops.s. */
static void add_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	on_print(LIBBPF_WARN, fmt, ap);
	va_end(ap);
}

static int st_prepare(struct bpf_program *prog, struct bpf_prog_load_opts *opts, long cookie)
{
	(void)prog;
	if (!cur_st.set) {
		add_msg("%s\n", cur_st.err);
		return -EINVAL;
	}
	opts->attach_btf_id = cur_st.btf_id;
	opts->attach_btf_obj_fd = cur_st.btf_obj_fd;
	opts->expected_attach_type = cur_st.member;
	if (cookie)
		opts->prog_flags |= BPF_F_SLEEPABLE;
	return 0;
}

/* libbpf refuses to load a struct_ops program whose attach_btf_id is still 0
 * (no map gave it one) before it calls st_prepare: any vmlinux function gives
 * it a non-zero id, which st_prepare then replaces with the struct's. */
static const char *any_kernel_func(void)
{
	for (__u32 id = 1; id < btf__type_cnt(vmlinux_btf); id++) {
		const struct btf_type *t = btf__type_by_id(vmlinux_btf, id);

		if (btf_is_func(t))
			return btf__name_by_offset(vmlinux_btf, t->name_off);
	}
	return NULL;
}

/* The programs the object's struct_ops maps reference, read from the maps'
 * shadow data (libbpf >= 1.3 stores the struct bpf_program pointer there). */
static void collect_st_targets(struct bpf_object *obj)
{
	const struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map;

	st_ntargets = 0;
	if (!btf)
		return;
	bpf_object__for_each_map(map, obj) {
		if (bpf_map__type(map) != BPF_MAP_TYPE_STRUCT_OPS)
			continue;
		size_t sz;
		const char *data = bpf_map__initial_value(map, &sz);
		__u32 tid = bpf_map__btf_value_type_id(map);
		const struct btf_type *t = btf__type_by_id(btf, tid);

		if (!data || !t || !btf_is_struct(t))
			continue;
		const struct btf_member *m = btf_members(t);
		for (int i = 0; i < btf_vlen(t); i++, m++) {
			const struct btf_type *mt = btf__type_by_id(btf, m->type);

			while (mt && (btf_is_mod(mt) || btf_is_typedef(mt)))
				mt = btf__type_by_id(btf, mt->type);
			if (!mt || !btf_is_ptr(mt))
				continue;
			struct bpf_program *p = *(struct bpf_program **)(data + m->offset / 8);
			if (!p || st_ntargets == MAX_PROGS)
				continue;
			struct st_target *s = &st_targets[st_ntargets++];
			snprintf(s->prog, sizeof(s->prog), "%s", bpf_program__name(p));
			snprintf(s->tname, sizeof(s->tname), "%s", btf__name_by_offset(btf, t->name_off));
			snprintf(s->mname, sizeof(s->mname), "%s", btf__name_by_offset(btf, m->name_off));
		}
	}
}

/* Find the kernel's struct and member (vmlinux, then the module BTFs), as
 * libbpf's find_struct_ops_kern_types: the struct and its bpf_struct_ops_<name>
 * wrapper must exist. */
static void resolve_st(const char *prog_name)
{
	memset(&cur_st, 0, sizeof(cur_st));
	const struct st_target *s = NULL;

	for (int i = 0; i < st_ntargets; i++)
		if (!strcmp(st_targets[i].prog, prog_name))
			s = &st_targets[i];
	if (!s) {
		snprintf(cur_st.err, sizeof(cur_st.err),
			 "prog '%s': SEC(\"struct_ops\") program isn't referenced anywhere, did you forget to use it?",
			 prog_name);
		return;
	}
	char wrapper[300];
	snprintf(wrapper, sizeof(wrapper), "bpf_struct_ops_%s", s->tname);

	struct btf *kbtf = vmlinux_btf;
	int obj_fd = 0;
	__s32 tid = btf__find_by_name_kind(kbtf, s->tname, BTF_KIND_STRUCT);
	__s32 wid = btf__find_by_name_kind(kbtf, wrapper, BTF_KIND_STRUCT);
	struct btf *mod = NULL;

	if (tid < 0 || wid < 0) {
		/* module BTFs: walk the kernel's BTF objects */
		__u32 id = 0;

		tid = wid = -1;
		while (!bpf_btf_get_next_id(id, &id)) {
			int fd = bpf_btf_get_fd_by_id(id);
			struct bpf_btf_info info = {};
			char name[64] = {};
			__u32 len = sizeof(info);

			if (fd < 0)
				continue;
			info.name = (__u64)(unsigned long)name;
			info.name_len = sizeof(name);
			if (bpf_btf_get_info_by_fd(fd, &info, &len) || !info.kernel_btf || !strcmp(name, "vmlinux")) {
				close(fd);
				continue;
			}
			mod = btf__load_from_kernel_by_id_split(id, vmlinux_btf);
			if (!mod) {
				close(fd);
				continue;
			}
			tid = btf__find_by_name_kind(mod, s->tname, BTF_KIND_STRUCT);
			wid = btf__find_by_name_kind(mod, wrapper, BTF_KIND_STRUCT);
			if (tid > 0 && wid > 0) {
				kbtf = mod;
				obj_fd = fd;
				break;
			}
			btf__free(mod);
			mod = NULL;
			close(fd);
		}
	}
	if (tid < 0 || wid < 0) {
		snprintf(cur_st.err, sizeof(cur_st.err),
			 "struct_ops init_kern: struct %s is not found in kernel BTF", s->tname);
		return;
	}
	const struct btf_type *kt = btf__type_by_id(kbtf, tid);
	const struct btf_member *km = btf_members(kt);

	for (int i = 0; i < btf_vlen(kt); i++, km++) {
		if (!strcmp(btf__name_by_offset(kbtf, km->name_off), s->mname)) {
			cur_st.set = true;
			cur_st.btf_id = tid;
			cur_st.member = i;
			cur_st.btf_obj_fd = obj_fd;
			break;
		}
	}
	if (!cur_st.set)
		snprintf(cur_st.err, sizeof(cur_st.err),
			 "struct_ops init_kern %s: Cannot find member %s in kernel BTF", s->tname, s->mname);
	if (mod && !cur_st.set) {
		btf__free(mod);
		close(obj_fd);
	}
}

/* ---- the selftests' annotations: BTF decl tags "comment:..." on the function -- */

static void print_tags(const struct btf *btf, const char *func, bool *first)
{
	jkey("tags", first);
	putchar('[');
	if (btf) {
		__s32 fid = btf__find_by_name_kind(btf, func, BTF_KIND_FUNC);
		bool f = true;

		for (__u32 id = 1; fid > 0 && id < btf__type_cnt(btf); id++) {
			const struct btf_type *t = btf__type_by_id(btf, id);

			if (!btf_is_decl_tag(t) || t->type != (__u32)fid || btf_decl_tag(t)->component_idx != -1)
				continue;
			const char *s = btf__name_by_offset(btf, t->name_off);
			if (strncmp(s, "comment:", 8))
				continue;
			if (!f)
				putchar(',');
			f = false;
			jstr(s + 8);
		}
	}
	putchar(']');
}

/* ---- one load ----------------------------------------------------------- */

struct result {
	bool libbpf_ok;		/* bpf_object__load returned 0 */
	int load_err;		/* libbpf's error */
	int prog_fd;
	struct load_seen load;
	int maps_eperm;
	__u32 map_eperm_type;
	char libbpf[8][512];
	int nlibbpf;
	const char *prog_type, *attach_type, *section;
	bool btf_loaded;
	int retval_err;
	__u32 retval;
	bool retval_set;
};

/* A test run must not act on the machine: only program types whose test run
 * works on a private buffer (no live XDP frames), and no program calling
 * bpf_clone_redirect (which transmits a copy of the test packet). */
static bool test_run_safe(const struct bpf_program *p)
{
	enum bpf_prog_type t = bpf_program__type(p);
	const struct bpf_insn *insn = bpf_program__insns(p);
	size_t n = bpf_program__insn_cnt(p);

	if (!(t == BPF_PROG_TYPE_SOCKET_FILTER || t == BPF_PROG_TYPE_SCHED_CLS || t == BPF_PROG_TYPE_SCHED_ACT ||
	      t == BPF_PROG_TYPE_XDP || t == BPF_PROG_TYPE_CGROUP_SKB))
		return false;
	for (size_t i = 0; insn && i < n; i++)
		if (insn[i].code == (BPF_JMP | BPF_CALL) && insn[i].src_reg == 0 && insn[i].imm == BPF_FUNC_clone_redirect)
			return false;
	return insn != NULL;
}

static int load_one(const char *path, const char *target, int log_level, bool run, struct result *r)
{
	memset(r, 0, sizeof(*r));
	memset(&last_load, 0, sizeof(last_load));
	maps_refused_eperm = 0;
	libbpf_nmsg = 0;
	logbuf[0] = 0;

	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		r->load_err = -errno;
		goto out_msgs;
	}
	collect_st_targets(obj);
	struct bpf_program *p, *tp = NULL;
	bpf_object__for_each_program(p, obj) {
		bool me = !strcmp(bpf_program__name(p), target);
		bpf_program__set_autoload(p, me);
		if (me)
			tp = p;
	}
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		bpf_map__set_pin_path(m, NULL);
		if (bpf_map__type(m) == BPF_MAP_TYPE_STRUCT_OPS) {
			/* never created: libbpf must not even try (see the header) */
			bpf_map__set_autocreate(m, false);
			bpf_map__set_type(m, BPF_MAP_TYPE_ARRAY);
		}
	}
	if (!tp) {
		r->load_err = -ENOENT;
		bpf_object__close(obj);
		goto out_msgs;
	}
	r->section = strdup(bpf_program__section_name(tp));
	memset(&cur_st, 0, sizeof(cur_st));
	if (bpf_program__type(tp) == BPF_PROG_TYPE_STRUCT_OPS) {
		resolve_st(target);
		bpf_program__set_attach_target(tp, 0, any_kernel_func());
	}
	bpf_program__set_log_buf(tp, logbuf, LOG_SIZE);
	bpf_program__set_log_level(tp, log_level);
	int err = bpf_object__load(obj);
	r->libbpf_ok = !err;
	r->load_err = err;
	r->prog_fd = bpf_program__fd(tp);
	r->load = last_load;
	r->maps_eperm = maps_refused_eperm;
	r->map_eperm_type = map_refused_type;
	r->prog_type = libbpf_bpf_prog_type_str(bpf_program__type(tp));
	r->attach_type = libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(tp));
	r->btf_loaded = bpf_object__btf(obj) && btf__fd(bpf_object__btf(obj)) >= 0;
	if (run && r->prog_fd >= 0 && test_run_safe(tp)) {
		unsigned char in[64] = {}, outb[256];
		LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = in, .data_size_in = sizeof(in), .data_out = outb,
			    .data_size_out = sizeof(outb), .repeat = 1);
		int e = bpf_prog_test_run_opts(r->prog_fd, &topts);

		r->retval_set = true;
		r->retval_err = e ? -errno : 0;
		r->retval = topts.retval;
	}
	bpf_object__close(obj);
out_msgs:
	memcpy(r->libbpf, libbpf_msgs, sizeof(libbpf_msgs));
	r->nlibbpf = libbpf_nmsg;
	return 0;
}

static bool stats_line(const char *l, size_t n)
{
	return (n >= 10 && !strncmp(l, "processed ", 10)) || (n >= 18 && !strncmp(l, "verification time ", 18)) ||
	       (n >= 12 && !strncmp(l, "stack depth ", 12));
}

/* The kernel's message: the last non-empty log line once the statistics lines
 * at its end (processed ..., verification time ..., stack depth ...) are
 * dropped; and N of "processed N insns". */
static void log_facts(const char *log, char *last, size_t lastsz, long *processed)
{
	const char *p = NULL, *q = log;

	*processed = -1;
	while ((q = strstr(q, "processed ")) != NULL) {
		if ((q == log || q[-1] == '\n') && strstr(q, " insns"))
			p = q;
		q++;
	}
	if (p)
		*processed = strtol(p + 10, NULL, 10);
	last[0] = 0;
	const char *end = log + strlen(log);
	while (end > log) {
		while (end > log && (end[-1] == '\n' || end[-1] == ' '))
			end--;
		const char *start = end;
		while (start > log && start[-1] != '\n')
			start--;
		size_t n = (size_t)(end - start);
		if (n && !stats_line(start, n)) {
			if (n >= lastsz)
				n = lastsz - 1;
			memcpy(last, start, n);
			last[n] = 0;
			return;
		}
		end = start;
	}
}

static const char *tail(const char *log, int lines)
{
	const char *e = log + strlen(log);
	const char *s = e;
	int n = 0;

	while (s > log) {
		if (s[-1] == '\n' && s != e && ++n > lines)
			break;
		s--;
	}
	return s;
}

static bool has_tag(const struct btf *btf, const char *func, const char *prefix)
{
	__s32 fid = btf ? btf__find_by_name_kind(btf, func, BTF_KIND_FUNC) : -1;

	for (__u32 id = 1; fid > 0 && id < btf__type_cnt(btf); id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);

		if (btf_is_decl_tag(t) && t->type == (__u32)fid &&
		    !strncmp(btf__name_by_offset(btf, t->name_off), prefix, strlen(prefix)))
			return true;
	}
	return false;
}

static void emit(const char *path, const char *name, const struct btf *btf, bool want_run)
{
	/* BPF_PROG_TEST_RUN only where the selftest itself expects a return value */
	want_run = want_run && has_tag(btf, name, "comment:test_retval=");
	struct result r, r4;
	char last[4096] = "";
	long processed = -1;
	bool first = true;

	load_one(path, name, 1 | 4, want_run, &r);
	const char *verdict;
	char *log = strdup(logbuf);
	bool overflow = false;

	if (r.load.seen && r.load.err == ENOSPC) {
		/* the level-1 log overflowed (the kernel keeps its tail and answers
		 * ENOSPC whatever the verdict): the verdict comes from a stats-only load */
		overflow = true;
		load_one(path, name, 4, want_run, &r4);
		char l4[4096];
		long p4;
		log_facts(logbuf, l4, sizeof(l4), &p4);
		r.load.err = r4.load.err;
		r.prog_fd = r4.prog_fd;
		r.libbpf_ok = r4.libbpf_ok;
		r.retval_set = r4.retval_set;
		r.retval = r4.retval;
		r.retval_err = r4.retval_err;
		processed = p4;
	}
	if (r.load.seen) {
		if (!r.load.err)
			verdict = "accepted";
		else if (r.load.err == EPERM && !log[0])
			verdict = "host_policy";
		else
			verdict = "rejected";
		long p;
		log_facts(log, last, sizeof(last), &p);
		if (!overflow)
			processed = p;
	} else if (r.maps_eperm && r.map_eperm_type == BPF_MAP_TYPE_ARENA) {
		verdict = "host_policy";
	} else {
		verdict = "libbpf_error";
	}

	putchar('{');
	jkey("object", &first);
	const char *base = strrchr(path, '/');
	jstr(base ? base + 1 : path);
	jkey("program", &first);
	jstr(name);
	jkey("section", &first);
	jstr(r.section);
	jkey("prog_type", &first);
	jstr(r.prog_type);
	jkey("expected_attach_type", &first);
	if (r.load.seen && r.load.prog_type == BPF_PROG_TYPE_STRUCT_OPS)
		printf("%u", r.load.expected_attach_type);	/* the member index */
	else if (r.load.seen)
		jstr(libbpf_bpf_attach_type_str(r.load.expected_attach_type));
	else
		jstr(r.attach_type);
	jkey("verdict", &first);
	jstr(verdict);
	jkey("errno", &first);
	printf("%d", r.load.seen ? r.load.err : -r.load_err);
	jkey("errno_name", &first);
	{
		int e = r.load.seen ? r.load.err : -r.load_err;
		const char *en = e == 524 ? "ENOTSUPP" : e ? strerrorname_np(e) : NULL;
		if (en)
			jstr(en);
		else
			fputs("null", stdout);
	}
	jkey("error_line", &first);
	if (r.load.seen && r.load.err && last[0])
		jstr(last);
	else
		fputs("null", stdout);
	jkey("processed", &first);
	if (processed >= 0)
		printf("%ld", processed);
	else
		fputs("null", stdout);
	jkey("log_overflow", &first);
	fputs(overflow ? "true" : "false", stdout);
	if (r.load.seen) {
		jkey("load", &first);
		printf("{\"prog_type\":%u,\"expected_attach_type\":%u,\"prog_flags\":%u,\"insn_cnt\":%u,"
		       "\"attach_btf_id\":%u,\"with_btf\":%s,\"func_info_cnt\":%u}",
		       r.load.prog_type, r.load.expected_attach_type, r.load.prog_flags, r.load.insn_cnt,
		       r.load.attach_btf_id, r.load.prog_btf_fd ? "true" : "false", r.load.func_info_cnt);
	}
	jkey("btf_loaded", &first);
	fputs(r.btf_loaded ? "true" : "false", stdout);
	if (cur_st.set || cur_st.err[0]) {
		jkey("struct_ops", &first);
		for (int i = 0; i < st_ntargets; i++)
			if (!strcmp(st_targets[i].prog, name)) {
				char b[300];
				snprintf(b, sizeof(b), "%s.%s", st_targets[i].tname, st_targets[i].mname);
				jstr(b);
				goto done_st;
			}
		fputs("null", stdout);
done_st:;
	}
	if (r.load.seen && r.load.err) {
		jkey("log_tail", &first);
		jstr(tail(log, 30));
	}
	if (r.retval_set) {
		jkey("retval", &first);
		if (r.retval_err)
			fputs("null", stdout);
		else
			printf("%u", r.retval);
	}
	jkey("libbpf", &first);
	putchar('[');
	for (int i = 0; i < r.nlibbpf; i++) {
		if (i)
			putchar(',');
		jstr(r.libbpf[i]);
	}
	putchar(']');
	print_tags(btf, name, &first);
	jkey("kernel", &first);
	jstr(release);
	jkey("guard_refusals", &first);
	printf("%d", guard_refusals);
	puts("}");
	fflush(stdout);
	free(log);
	free((void *)r.section);
}

int main(int argc, char **argv)
{
	bool want_run = false;
	int i = 1;
	struct utsname u;

	if (i < argc && !strcmp(argv[i], "--retval")) {
		want_run = true;
		i++;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: label [--retval] OBJ.o [PROG ...]\n");
		return 2;
	}
	uname(&u);
	snprintf(release, sizeof(release), "%s", u.release);
	logbuf = malloc(LOG_SIZE);
	libbpf_set_print(on_print);
	vmlinux_btf = btf__load_vmlinux_btf();

	LIBBPF_OPTS(libbpf_prog_handler_opts, st_opts, .cookie = 0, .prog_prepare_load_fn = st_prepare);
	LIBBPF_OPTS(libbpf_prog_handler_opts, st_s_opts, .cookie = 1, .prog_prepare_load_fn = st_prepare);
	if (libbpf_register_prog_handler("struct_ops+", BPF_PROG_TYPE_STRUCT_OPS, 0, &st_opts) < 0 ||
	    libbpf_register_prog_handler("struct_ops.s+", BPF_PROG_TYPE_STRUCT_OPS, 0, &st_s_opts) < 0) {
		fprintf(stderr, "label: cannot register the struct_ops handlers\n");
		return 1;
	}

	const char *path = argv[i++];
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		int e = errno;
		printf("{\"object\":");
		const char *base = strrchr(path, '/');
		jstr(base ? base + 1 : path);
		printf(",\"program\":null,\"verdict\":\"libbpf_error\",\"errno\":%d,\"libbpf\":[", e);
		for (int k = 0; k < libbpf_nmsg; k++) {
			if (k)
				putchar(',');
			jstr(libbpf_msgs[k]);
		}
		printf("],\"kernel\":");
		jstr(release);
		puts("}");
		return 0;
	}
	/* the object's own BTF, for the annotations (independent of the host) */
	struct btf *btf = btf__parse_elf(path, NULL);
	const char *names[MAX_PROGS];
	int n = 0;
	struct bpf_program *p;

	bpf_object__for_each_program(p, obj)
		if (n < MAX_PROGS)
			names[n++] = strdup(bpf_program__name(p));
	bpf_object__close(obj);
	for (int k = 0; k < n; k++) {
		bool wanted = i >= argc;

		for (int a = i; a < argc; a++)
			if (!strcmp(argv[a], names[k]))
				wanted = true;
		if (wanted)
			emit(path, names[k], btf, want_run);
	}
	btf__free(btf);
	return 0;
}
