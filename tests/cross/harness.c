/*
 * Cross-architecture test of asm/aarch64.s and asm/riscv64.s, run under qemu-user by
 * tests/cross_arch.rs. Build (one of):
 *
 *   aarch64-linux-gnu-gcc -static -O2 -fno-omit-frame-pointer -fasynchronous-unwind-tables \
 *       tests/cross/harness.c asm/aarch64.s
 *   riscv64-linux-gnu-gcc -static -O2 -fno-omit-frame-pointer -fasynchronous-unwind-tables \
 *       tests/cross/harness.c asm/riscv64.s
 *
 * (The frame pointer and unwind tables are for the backtrace checks; riscv64 GCC emits no unwind
 * tables for C by default.)
 *
 * Prints "ok" and exits 0 when every check passes; otherwise prints what broke and exits 1.
 *
 * What is checked:
 * - Every callee-saved register (aarch64: x19-x29, d8-d15; riscv64: s0-s11, fs0-fs11) and sp
 *   survive (a) the parent's call of zsync_0_1_resume and (b) the context's suspend stub. Each
 *   side loads a fresh pattern into all of them right before the switch and stores them right
 *   after (inline-asm probes), for every one of ROUNDS round trips, so a register that the asm
 *   fails to save or restore shows up as a mismatch.
 * - The argument passing both ways, the first resume's argument and the trampoline's arg2/arg3.
 * - Finishing: when the entry returns, resume returns (its value, sp = 0).
 * - A nested context: context A resumes context B, and A suspends to main while B is suspended
 *   inside it, with the probes on every switch of both levels.
 * - The trampoline: backtraces taken inside a context (_Unwind_Backtrace, i.e. the CFI) end at
 *   zsync_0_1_trampoline, and the frame-pointer chain ends there with a null frame pointer.
 * - The hand-over: two sibling contexts P and Q of main; main resumes P, which hands its turn to
 *   the suspended Q (zsync_0_1_hand_over), which suspends to main: main's resume of P returns
 *   Q's suspension. With the probes on P's hand-over (its registers when main resumes it again),
 *   Q's suspend (its registers when P's hand-over enters it, with 0 for "carry on") and main's
 *   resume, from a stack depth that changes every round (a link not handed on is caught), and a
 *   backtrace inside Q, entered by a hand-over, that still ends at its trampoline.
 *
 * The suspend and hand-over sequences below are the ones in src/coro/arch/<arch>.rs (between
 * the "stub" comments); keep them in step.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <unwind.h>

#define ROUNDS 10000       /* main <-> A round trips before the nested phase */
#define HAND_ROUNDS 3000   /* main -> P, P hands over to Q, Q suspends to main */
#define NESTED_ROUNDS 3000 /* A <-> B round trips; A also suspends to main during them */
#define STACK_SIZE (64 * 1024)

struct transfer {
    uintptr_t arg;
    void *sp;
};

struct transfer zsync_0_1_resume(void *sp, void **link, uintptr_t arg);
void zsync_0_1_suspend(void);
void zsync_0_1_trampoline(void);
void zsync_0_1_hand_over(void);

typedef uintptr_t (*entry_fn)(uintptr_t arg, void *arg2, void *arg3);

/* ---------------------------------------------------------------------------------------------
 * Per-architecture probes.
 *
 * struct probe is shared with the asm below by offsets: [0] sp before the switch, [8] sp after,
 * [16] the pattern loaded into the registers (NREGS words, in reg_names order), then the values
 * found in them after the switch (NREGS words).
 * ------------------------------------------------------------------------------------------ */

#if defined(__aarch64__)

#define NREGS 19
static const char *const reg_names[NREGS] = {
    "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29",
    "d8",  "d9",  "d10", "d11", "d12", "d13", "d14", "d15",
};
#define OUT_OFFSET "168" /* 16 + 8 * NREGS */

/* All the callee-saved registers, to or from [base]: ldp/ldr or stp/str. */
#define XFER_REGS(pair, single, base)            \
    pair " x19, x20, [" base ", #0]\n\t"         \
    pair " x21, x22, [" base ", #16]\n\t"        \
    pair " x23, x24, [" base ", #32]\n\t"        \
    pair " x25, x26, [" base ", #48]\n\t"        \
    pair " x27, x28, [" base ", #64]\n\t"        \
    single " x29, [" base ", #80]\n\t"           \
    pair " d8, d9, [" base ", #88]\n\t"          \
    pair " d10, d11, [" base ", #104]\n\t"       \
    pair " d12, d13, [" base ", #120]\n\t"       \
    pair " d14, d15, [" base ", #136]\n\t"

/* Everything else the probes may see changed: the caller-saved registers (minus the operands),
 * x19-x28 and d8-d15 (they hold the patterns afterwards), x30. x29 is saved by hand instead, as
 * GCC may not let it be clobbered. */
#define PROBE_CLOBBERS_BUT_X3                                                                 \
    "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17",       \
    "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x30", "v0",   \
    "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14",    \
    "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27",  \
    "v28", "v29", "v30", "v31", "cc", "memory"
#define PROBE_CLOBBERS "x3", PROBE_CLOBBERS_BUT_X3

/* Before the switch: keep x29 and the probe pointer (x4) on the stack, record sp, load the
 * patterns. */
#define PROBE_BEFORE                 \
    "stp x29, x4, [sp, #-16]!\n\t"   \
    "mov x9, sp\n\t"                 \
    "str x9, [x4]\n\t"               \
    "add x9, x4, #16\n\t"            \
    XFER_REGS("ldp", "ldr", "x9")

/* After the switch: find the probe pointer again, record sp and the registers, restore x29. */
#define PROBE_AFTER                      \
    "ldr x9, [sp, #8]\n\t"               \
    "mov x10, sp\n\t"                    \
    "str x10, [x9, #8]\n\t"              \
    "add x10, x9, #" OUT_OFFSET "\n\t"   \
    XFER_REGS("stp", "str", "x10")       \
    "ldp x29, x4, [sp], #16\n\t"

/* The parent's side: an ordinary call of zsync_0_1_resume, as the Rust glue makes it. */
static __attribute__((noinline)) struct transfer probe_resume(void *sp, void **link, uintptr_t arg,
                                                              void *probe) {
    register uintptr_t x0 __asm__("x0") = (uintptr_t)sp;
    register uintptr_t x1 __asm__("x1") = (uintptr_t)link;
    register uintptr_t x2 __asm__("x2") = arg;
    register void *x4 __asm__("x4") = probe;
    __asm__ volatile(PROBE_BEFORE
                     "bl zsync_0_1_resume\n\t"
                     PROBE_AFTER
                     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x4)
                     :
                     : PROBE_CLOBBERS);
    return (struct transfer){x0, (void *)x1};
}

/* The context's side: the Rust suspend stub, wrapped in the probe. */
static __attribute__((noinline)) uintptr_t probe_suspend(void **link, uintptr_t arg, void *probe) {
    register uintptr_t x0 __asm__("x0") = (uintptr_t)link;
    register uintptr_t x1 __asm__("x1") = arg;
    register uintptr_t x2 __asm__("x2");
    register void *x4 __asm__("x4") = probe;
    __asm__ volatile(PROBE_BEFORE
                     /* stub: src/coro/arch/aarch64.rs, suspend */
                     "adr x30, 2f\n\t"
                     "b zsync_0_1_suspend\n\t"
                     "2:\n\t"
                     /* end of stub */
                     PROBE_AFTER
                     : "+r"(x0), "+r"(x1), "=r"(x2), "+r"(x4)
                     :
                     : PROBE_CLOBBERS);
    return x0;
}

/* A context handing its turn to a suspended sibling: the Rust hand_over stub, wrapped in the
 * probe. x3 is an operand here (the hand-over's fourth argument). */
static __attribute__((noinline)) uintptr_t probe_hand_over(void **from_link, void **from_sp,
                                                           void *to_sp, void **to_link,
                                                           void *probe) {
    register uintptr_t x0 __asm__("x0") = (uintptr_t)from_link;
    register uintptr_t x1 __asm__("x1") = (uintptr_t)to_sp;
    register uintptr_t x2 __asm__("x2") = (uintptr_t)to_link;
    register uintptr_t x3 __asm__("x3") = (uintptr_t)from_sp;
    register void *x4 __asm__("x4") = probe;
    __asm__ volatile(PROBE_BEFORE
                     /* stub: src/coro/arch/aarch64.rs, hand_over */
                     "adr x30, 2f\n\t"
                     "b zsync_0_1_hand_over\n\t"
                     "2:\n\t"
                     /* end of stub */
                     PROBE_AFTER
                     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4)
                     :
                     : PROBE_CLOBBERS_BUT_X3);
    return x0;
}

/* With -fno-omit-frame-pointer: the frame record at x29 is [caller's x29, return address]. */
static void *caller_fp(void *fp) { return ((void **)fp)[0]; }
static void *frame_return(void *fp) { return ((void **)fp)[1]; }

#elif defined(__riscv) && __riscv_xlen == 64

#define NREGS 24
static const char *const reg_names[NREGS] = {
    "s0",  "s1",  "s2",  "s3",  "s4",  "s5",  "s6",  "s7",  "s8",  "s9",   "s10",  "s11",
    "fs0", "fs1", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10", "fs11",
};
#define OUT_OFFSET "208" /* 16 + 8 * NREGS */

/* All the callee-saved registers, to or from [base]: ld/fld or sd/fsd. */
#define XFER_REGS(x, f, base)                                                                  \
    x " s0, 0(" base ")\n\t" x " s1, 8(" base ")\n\t" x " s2, 16(" base ")\n\t"               \
    x " s3, 24(" base ")\n\t" x " s4, 32(" base ")\n\t" x " s5, 40(" base ")\n\t"             \
    x " s6, 48(" base ")\n\t" x " s7, 56(" base ")\n\t" x " s8, 64(" base ")\n\t"             \
    x " s9, 72(" base ")\n\t" x " s10, 80(" base ")\n\t" x " s11, 88(" base ")\n\t"           \
    f " fs0, 96(" base ")\n\t" f " fs1, 104(" base ")\n\t" f " fs2, 112(" base ")\n\t"        \
    f " fs3, 120(" base ")\n\t" f " fs4, 128(" base ")\n\t" f " fs5, 136(" base ")\n\t"       \
    f " fs6, 144(" base ")\n\t" f " fs7, 152(" base ")\n\t" f " fs8, 160(" base ")\n\t"       \
    f " fs9, 168(" base ")\n\t" f " fs10, 176(" base ")\n\t" f " fs11, 184(" base ")\n\t"

/* Everything else the probes may see changed: the caller-saved registers (minus the operands
 * a0-a3), s1-s11 and fs0-fs11 (they hold the patterns afterwards). s0 is saved by hand
 * instead, as GCC may not let the frame pointer be clobbered. */
#define PROBE_CLOBBERS_BUT_A4_A5                                                               \
    "ra", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "a6", "a7", "s1", "s2", "s3",                \
    "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", \
    "ft6", "ft7", "ft8", "ft9", "ft10", "ft11", "fa0", "fa1", "fa2", "fa3", "fa4", "fa5",       \
    "fa6", "fa7", "fs0", "fs1", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10",  \
    "fs11", "memory"
#define PROBE_CLOBBERS "a4", "a5", PROBE_CLOBBERS_BUT_A4_A5

/* Before the switch: keep s0 and the probe pointer (a3) on the stack, record sp, load the
 * patterns. */
#define PROBE_BEFORE          \
    "addi sp, sp, -16\n\t"    \
    "sd s0, 0(sp)\n\t"        \
    "sd a3, 8(sp)\n\t"        \
    "sd sp, 0(a3)\n\t"        \
    "addi t0, a3, 16\n\t"     \
    XFER_REGS("ld", "fld", "t0")

/* After the switch: find the probe pointer again, record sp and the registers, restore s0. */
#define PROBE_AFTER                     \
    "ld t0, 8(sp)\n\t"                  \
    "sd sp, 8(t0)\n\t"                  \
    "addi t0, t0, " OUT_OFFSET "\n\t"   \
    XFER_REGS("sd", "fsd", "t0")        \
    "ld s0, 0(sp)\n\t"                  \
    "addi sp, sp, 16\n\t"

/* The parent's side: an ordinary call of zsync_0_1_resume, as the Rust glue makes it. */
static __attribute__((noinline)) struct transfer probe_resume(void *sp, void **link, uintptr_t arg,
                                                              void *probe) {
    register uintptr_t a0 __asm__("a0") = (uintptr_t)sp;
    register uintptr_t a1 __asm__("a1") = (uintptr_t)link;
    register uintptr_t a2 __asm__("a2") = arg;
    register void *a3 __asm__("a3") = probe;
    __asm__ volatile(PROBE_BEFORE
                     "call zsync_0_1_resume\n\t"
                     PROBE_AFTER
                     : "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3)
                     :
                     : PROBE_CLOBBERS);
    return (struct transfer){a0, (void *)a1};
}

/* The context's side: the Rust suspend stub, wrapped in the probe. */
static __attribute__((noinline)) uintptr_t probe_suspend(void **link, uintptr_t arg, void *probe) {
    register uintptr_t a0 __asm__("a0") = (uintptr_t)link;
    register uintptr_t a1 __asm__("a1") = arg;
    register uintptr_t a2 __asm__("a2");
    register void *a3 __asm__("a3") = probe;
    __asm__ volatile(PROBE_BEFORE
                     /* stub: src/coro/arch/riscv64.rs, suspend */
                     "lla a2, 2f\n\t"
                     "tail zsync_0_1_suspend\n\t"
                     "2:\n\t"
                     /* end of stub */
                     PROBE_AFTER
                     : "+r"(a0), "+r"(a1), "=r"(a2), "+r"(a3)
                     :
                     : PROBE_CLOBBERS);
    return a0;
}

/* A context handing its turn to a suspended sibling: the Rust hand_over stub, wrapped in the
 * probe. a4 and a5 are operands here (the hand-over's third and fourth arguments). */
static __attribute__((noinline)) uintptr_t probe_hand_over(void **from_link, void **from_sp,
                                                           void *to_sp, void **to_link,
                                                           void *probe) {
    register uintptr_t a0 __asm__("a0") = (uintptr_t)from_link;
    register uintptr_t a1 __asm__("a1") = (uintptr_t)to_sp;
    register uintptr_t a2 __asm__("a2");
    register void *a3 __asm__("a3") = probe;
    register uintptr_t a4 __asm__("a4") = (uintptr_t)to_link;
    register uintptr_t a5 __asm__("a5") = (uintptr_t)from_sp;
    __asm__ volatile(PROBE_BEFORE
                     /* stub: src/coro/arch/riscv64.rs, hand_over */
                     "lla a2, 2f\n\t"
                     "tail zsync_0_1_hand_over\n\t"
                     "2:\n\t"
                     /* end of stub */
                     PROBE_AFTER
                     : "+r"(a0), "+r"(a1), "=r"(a2), "+r"(a3), "+r"(a4), "+r"(a5)
                     :
                     : PROBE_CLOBBERS_BUT_A4_A5);
    return a0;
}

/* With -fno-omit-frame-pointer: s0 = the frame's CFA, return address at s0-8, caller's s0 at
 * s0-16. */
static void *caller_fp(void *fp) { return ((void **)fp)[-2]; }
static void *frame_return(void *fp) { return ((void **)fp)[-1]; }

#else
#error "harness.c: aarch64 or riscv64 only"
#endif

struct probe {
    uint64_t sp_before, sp_after;
    uint64_t in[NREGS];
    uint64_t out[NREGS];
};
_Static_assert(__builtin_offsetof(struct probe, in) == 16, "probe layout");
_Static_assert(__builtin_offsetof(struct probe, out) == 16 + 8 * NREGS, "probe layout");

/* probe_resume from a stack depth that changes every round, so that a context that came back
 * through a stale link slot (one the resume did not update) is caught. */
static __attribute__((noinline)) struct transfer resume_from(unsigned round, void *sp, void **link,
                                                             uintptr_t arg, void *probe) {
    volatile unsigned char pad[16 + 16 * (round % 5)];
    pad[0] = 1;
    struct transfer t = probe_resume(sp, link, arg, probe);
    if (pad[0] != 1)
        t.sp = (void *)1; /* (keeps the pad live across the call) */
    return t;
}

/* ---------------------------------------------------------------------------------------------
 * Checking.
 * ------------------------------------------------------------------------------------------ */

static const char *volatile phase = "start";

static __attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stdout);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    exit(1);
}

static uint64_t mix(uint64_t x) { /* splitmix64 */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A fresh pattern for every register, every switch. */
static void arm(struct probe *p, uint64_t seed) {
    for (int i = 0; i < NREGS; i++) {
        p->in[i] = mix(seed * 64 + i);
        p->out[i] = ~p->in[i];
    }
    p->sp_before = 1;
    p->sp_after = 2;
}

static void check(const struct probe *p, const char *what, unsigned round) {
    if (p->sp_before != p->sp_after)
        fail("sp not preserved across %s, round %u: %#llx became %#llx", what, round,
             (unsigned long long)p->sp_before, (unsigned long long)p->sp_after);
    if (p->sp_before % 16 != 0)
        fail("sp not 16-byte aligned around %s, round %u: %#llx", what, round,
             (unsigned long long)p->sp_before);
    for (int i = 0; i < NREGS; i++)
        if (p->out[i] != p->in[i])
            fail("%s not preserved across %s, round %u: expected %016llx, got %016llx",
                 reg_names[i], what, round, (unsigned long long)p->in[i],
                 (unsigned long long)p->out[i]);
}

static void expect(uint64_t got, uint64_t want, const char *what, unsigned round) {
    if (got != want)
        fail("%s, round %u: expected %#llx, got %#llx", what, round, (unsigned long long)want,
             (unsigned long long)got);
}

static void on_crash(int sig) {
    char buf[160];
    int n = snprintf(buf, sizeof buf, "FAIL: signal %d during: %s\n", sig, phase);
    if (write(1, buf, n) < 0) { /* nothing to do */ }
    _exit(1);
}

/* ---------------------------------------------------------------------------------------------
 * Contexts.
 * ------------------------------------------------------------------------------------------ */

struct ctx {
    void *sp;           /* saved stack pointer, as resume returns it */
    void *link;         /* link slot */
    unsigned char *lo;  /* the stack: [lo, lo + STACK_SIZE) */
};

/* The same frame as init_frame in src/coro/arch/mod.rs. */
static void ctx_init(struct ctx *c, entry_fn entry, void *arg2, void *arg3) {
    c->lo = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c->lo == MAP_FAILED)
        fail("mmap");
    uintptr_t *sp = (uintptr_t *)(c->lo + STACK_SIZE - 32);
    sp[0] = (uintptr_t)zsync_0_1_trampoline;
    sp[1] = (uintptr_t)entry;
    sp[2] = (uintptr_t)arg2;
    sp[3] = (uintptr_t)arg3;
    c->sp = sp;
    c->link = NULL;
}

/* Whether p points into c's stack, or just past its top (where a CFA may be). */
static int on_stack(const struct ctx *c, const void *p) {
    return (const unsigned char *)p >= c->lo && (const unsigned char *)p <= c->lo + STACK_SIZE;
}

/* Values passed around; each direction and context has its own sequence. */
static uint64_t main_to_a(unsigned r) { return mix(0x1000000 + r); }
static uint64_t a_to_main(unsigned r) { return mix(0x2000000 + r); }
static uint64_t a_to_b(unsigned r) { return mix(0x3000000 + r); }
static uint64_t b_to_a(unsigned r) { return mix(0x4000000 + r); }
#define A_FINAL 0xa11d0a11d0ull
#define B_FINAL 0xb11d0b11d0ull
#define ARG3 ((void *)0x3333333333333330ull)

static struct ctx ctx_a, ctx_b, ctx_f;
static struct probe probe_main, probe_a_up, probe_a_down, probe_b_up;
static unsigned a_suspends; /* suspends of A so far: main's resume count minus one */

/* Backtraces taken inside a context end at its trampoline. */
struct backtrace {
    int frames;
    uintptr_t ip[32];
};

static _Unwind_Reason_Code backtrace_frame(struct _Unwind_Context *uc, void *arg) {
    struct backtrace *bt = arg;
    if (bt->frames == 32)
        return _URC_NORMAL_STOP;
    bt->ip[bt->frames++] = _Unwind_GetIP(uc);
    return _URC_NO_REASON;
}

static __attribute__((noinline)) void check_stack_end(const struct ctx *c, const char *who) {
    struct backtrace bt = {0, {0}};
    _Unwind_Reason_Code rc = _Unwind_Backtrace(backtrace_frame, &bt);
    uintptr_t tramp = (uintptr_t)zsync_0_1_trampoline;
    /* libgcc reports one last frame with IP 0 once the return address is undefined. */
    int n = bt.frames > 0 && bt.ip[bt.frames - 1] == 0 ? bt.frames - 1 : bt.frames;
    uintptr_t last = n > 0 ? bt.ip[n - 1] : 0;
    if (rc != _URC_END_OF_STACK || n > 8 || last <= tramp || last > tramp + 64) {
        printf("%s: backtrace (reason %d):", who, rc);
        for (int i = 0; i < bt.frames; i++)
            printf(" %#lx", (unsigned long)bt.ip[i]);
        printf("\n");
        fail("%s: the backtrace does not end in zsync_0_1_trampoline (%#lx)", who,
             (unsigned long)tramp);
    }
    /* The frame-pointer chain: this function's frame, the entry function's, then null. */
    void *fp = __builtin_frame_address(0);
    void *entry_fp = caller_fp(fp);
    if (!on_stack(c, fp) || !on_stack(c, entry_fp))
        fail("%s: frame pointers %p, %p not on the context's stack", who, fp, entry_fp);
    if (caller_fp(entry_fp) != NULL)
        fail("%s: frame-pointer chain does not end at the trampoline (%p)", who,
             caller_fp(entry_fp));
    uintptr_t ret = (uintptr_t)frame_return(entry_fp);
    if (ret <= tramp || ret > tramp + 64)
        fail("%s: entry's return address %#lx is not in zsync_0_1_trampoline", who,
             (unsigned long)ret);
}

static uintptr_t entry_b(uintptr_t arg, void *arg2, void *arg3) {
    struct ctx *self = arg2;
    phase = "B started";
    expect(arg, a_to_b(0), "B's first argument", 0);
    if (self != &ctx_b || arg3 != ARG3)
        fail("B: arg2/arg3 wrong: %p %p", arg2, arg3);
    check_stack_end(self, "B");
    for (unsigned r = 0; r < NESTED_ROUNDS; r++) {
        arm(&probe_b_up, 0x40000000u + r);
        uintptr_t got = probe_suspend(&self->link, b_to_a(r), &probe_b_up);
        check(&probe_b_up, "B's suspend stub", r);
        expect(got, a_to_b(r + 1), "argument of A's resume of B", r + 1);
        if (!on_stack(self, &got))
            fail("B runs off its stack");
    }
    phase = "B finishing";
    return B_FINAL;
}

/* A suspends to main, with the probe; main knows the sequence from a_suspends. */
static void a_suspend_to_main(struct ctx *self) {
    unsigned r = a_suspends++;
    arm(&probe_a_up, 0x10000000u + r);
    uintptr_t got = probe_suspend(&self->link, a_to_main(r), &probe_a_up);
    check(&probe_a_up, "A's suspend stub", r);
    expect(got, main_to_a(r + 1), "argument of main's resume of A", r + 1);
}

static uintptr_t entry_a(uintptr_t arg, void *arg2, void *arg3) {
    struct ctx *self = arg2;
    phase = "A started";
    expect(arg, main_to_a(0), "A's first argument", 0);
    if (self != &ctx_a || arg3 != ARG3)
        fail("A: arg2/arg3 wrong: %p %p", arg2, arg3);
    check_stack_end(self, "A");

    phase = "main <-> A";
    for (unsigned r = 0; r < ROUNDS; r++) {
        a_suspend_to_main(self);
        if (!on_stack(self, &r))
            fail("A runs off its stack");
    }

    /* Nested: A is B's parent, and main stays A's. */
    phase = "A <-> B";
    ctx_init(&ctx_b, entry_b, &ctx_b, ARG3);
    void *sp = ctx_b.sp;
    for (unsigned r = 0;; r++) {
        arm(&probe_a_down, 0x30000000u + r);
        struct transfer t = resume_from(r, sp, &ctx_b.link, a_to_b(r), &probe_a_down);
        check(&probe_a_down, "A's call of zsync_0_1_resume", r);
        if (t.sp == NULL) {
            expect(t.arg, B_FINAL, "B's finish argument", r);
            expect(r, NESTED_ROUNDS, "resumes of B before it finished", r);
            break;
        }
        expect(t.arg, b_to_a(r), "argument of B's suspend", r);
        if (!on_stack(&ctx_b, t.sp))
            fail("B's saved stack pointer %p is not on its stack", t.sp);
        sp = t.sp;
        if (r % 5 == 0) /* up to main while B is suspended inside A */
            a_suspend_to_main(self);
    }

    phase = "A finishing";
    return A_FINAL;
}

/* The hand-over phase: P and Q, both children of main. */
static struct ctx ctx_p, ctx_q;
static struct probe probe_p, probe_q, probe_main_ho;
static uint64_t main_to_p(unsigned r) { return mix(0x5000000 + r); }
static uint64_t q_to_main(unsigned r) { return mix(0x6000000 + r); }
#define Q_READY 0x9e4d9e4dull
#define P_FINAL 0xf1f1f1f1ull

static uintptr_t entry_p(uintptr_t arg, void *arg2, void *arg3) {
    struct ctx *self = arg2;
    (void)arg3;
    for (unsigned r = 0; r < HAND_ROUNDS; r++) {
        expect(arg, main_to_p(r), "argument of main's resume of P", r);
        phase = "P hands over to Q";
        arm(&probe_p, 0x50000000u + r);
        arg = probe_hand_over(&self->link, &self->sp, ctx_q.sp, &ctx_q.link, &probe_p);
        check(&probe_p, "P's hand-over stub", r);
        if (!on_stack(self, &r))
            fail("P runs off its stack");
    }
    expect(arg, main_to_p(HAND_ROUNDS), "argument of main's last resume of P", HAND_ROUNDS);
    phase = "P finishing";
    return P_FINAL;
}

static uintptr_t entry_q(uintptr_t arg, void *arg2, void *arg3) {
    struct ctx *self = arg2;
    (void)arg; (void)arg3;
    arm(&probe_q, 0x60000000u);
    uintptr_t got = probe_suspend(&self->link, Q_READY, &probe_q);
    for (unsigned r = 0;; r++) {
        /* Entered by P's hand-over, never by main. */
        check(&probe_q, "Q's suspend stub, continued by a hand-over", r);
        expect(got, 0, "what a hand-over gives the sibling's suspend", r);
        if (r == 0)
            check_stack_end(self, "Q entered by a hand-over");
        phase = "Q suspends to main";
        arm(&probe_q, 0x61000000u + r);
        got = probe_suspend(&self->link, q_to_main(r), &probe_q);
    }
}

/* A context that finishes at once, entered by a plain C call of zsync_0_1_resume. */
static uintptr_t entry_f(uintptr_t arg, void *arg2, void *arg3) {
    struct ctx *self = arg2;
    return arg ^ (uintptr_t)arg3;
}

int main(void) {
    static unsigned char alt[64 * 1024];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGTRAP, &sa, NULL);

    /* finish without ever suspending, through the plain C function. */
    phase = "immediate finish";
    ctx_init(&ctx_f, entry_f, &ctx_f, ARG3);
    struct transfer t = zsync_0_1_resume(ctx_f.sp, &ctx_f.link, 0x1234);
    if (t.sp != NULL)
        fail("immediate finish: sp %p, expected null", t.sp);
    expect(t.arg, 0x1234 ^ (uintptr_t)ARG3, "immediate finish: argument", 0);

    /* main <-> A, then main <-> A <-> B. */
    phase = "main resumes A";
    ctx_init(&ctx_a, entry_a, &ctx_a, ARG3);
    void *sp = ctx_a.sp;
    unsigned r;
    for (r = 0;; r++) {
        arm(&probe_main, 0x20000000u + r);
        t = resume_from(r, sp, &ctx_a.link, main_to_a(r), &probe_main);
        check(&probe_main, "main's call of zsync_0_1_resume", r);
        if (t.sp == NULL) {
            expect(t.arg, A_FINAL, "A's finish argument", r);
            break;
        }
        expect(t.arg, a_to_main(r), "argument of A's suspend", r);
        if (!on_stack(&ctx_a, t.sp) || (uintptr_t)t.sp % 16 != 0)
            fail("A's saved stack pointer %p is not on its stack, or misaligned", t.sp);
        sp = t.sp;
    }
    expect(r, a_suspends, "resumes of A before it finished", r);
    if (r < ROUNDS + NESTED_ROUNDS / 5)
        fail("only %u round trips", r);

    /* The hand-over: Q started and suspended first, then main resumes P, which hands over. */
    phase = "hand-over: start Q";
    ctx_init(&ctx_q, entry_q, &ctx_q, ARG3);
    t = zsync_0_1_resume(ctx_q.sp, &ctx_q.link, 0);
    expect(t.arg, Q_READY, "Q's first suspension", 0);
    ctx_q.sp = t.sp;
    ctx_init(&ctx_p, entry_p, &ctx_p, ARG3);
    for (unsigned h = 0; h < HAND_ROUNDS; h++) {
        phase = "hand-over: main resumes P";
        arm(&probe_main_ho, 0x70000000u + h);
        t = resume_from(h, ctx_p.sp, &ctx_p.link, main_to_p(h), &probe_main_ho);
        check(&probe_main_ho, "main's call of zsync_0_1_resume, returned by the sibling", h);
        expect(t.arg, q_to_main(h), "Q's suspension, returned to main's resume of P", h);
        if (!on_stack(&ctx_q, t.sp) || (uintptr_t)t.sp % 16 != 0)
            fail("hand-over round %u: the stack pointer back (%p) is not Q's", h, t.sp);
        if (!on_stack(&ctx_p, ctx_p.sp) || (uintptr_t)ctx_p.sp % 16 != 0)
            fail("hand-over round %u: P's saved stack pointer (%p) is not on its stack", h,
                 ctx_p.sp);
        ctx_q.sp = t.sp;
    }
    t = zsync_0_1_resume(ctx_p.sp, &ctx_p.link, main_to_p(HAND_ROUNDS));
    if (t.sp != NULL)
        fail("hand-over: P did not finish (sp %p)", t.sp);
    expect(t.arg, P_FINAL, "P's finish argument", HAND_ROUNDS);

    printf("ok (%u round trips with main, %u with the nested context, %u hand-overs)\n", r,
           NESTED_ROUNDS, HAND_ROUNDS);
    return 0;
}
