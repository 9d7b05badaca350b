// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only triggers for the kernel's own reports.
 *
 * Each case makes the kernel print one kind of report (WARN_ON,
 * refcount_t saturation, RCU CPU stall, soft lockup, hung task, Oops,
 * UBSAN, lockdep's non-static key), so that the sva-kunit harness's
 * kernel-log verdict can be tested against what the kernel really prints.
 * Run one case per boot (kunit.py's filter_glob): most of them leave the
 * kernel tainted, lockdep switched off or, for the Oops, dead.  See
 * ./capture for the configuration and boot arguments each case needs.
 *
 * Never build this into a kernel for anything but capturing those logs.
 */

#include <kunit/test.h>
#include <linux/compiler.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

/*
 * Longer than rcupdate.rcu_cpu_stall_timeout=3 as capture boots it, plus
 * the 5 s that CONFIG_PROVE_RCU adds to it (RCU_STALL_DELAY_DELTA), but
 * shorter than CONFIG_DEFAULT_HUNG_TASK_TIMEOUT=20: KUnit's runner waits
 * for the case uninterruptibly.
 */
#define RCU_STALL_SPIN_S	12
/* Longer than twice watchdog_thresh=1 as capture boots it. */
#define SOFT_LOCKUP_SPIN_S	6
/*
 * Longer than twice CONFIG_DEFAULT_HUNG_TASK_TIMEOUT=20 as capture builds
 * it: khungtaskd checks once a timeout and starts the clock at a check.
 */
#define HUNG_TASK_SLEEP_S	50

/* Busy-wait, never scheduling on our own. */
static void report_trigger_spin(unsigned int seconds)
{
	unsigned long end = jiffies + seconds * HZ;

	while (time_before(jiffies, end))
		mdelay(1);
}

static void report_trigger_warn_on(struct kunit *test)
{
	bool bad = true;

	OPTIMIZER_HIDE_VAR(bad);
	WARN_ON(bad);
}

static void report_trigger_refcount(struct kunit *test)
{
	refcount_t over = REFCOUNT_INIT(REFCOUNT_MAX);
	refcount_t under = REFCOUNT_INIT(0);

	refcount_inc(&over);		/* "saturated; leaking memory." */
	KUNIT_EXPECT_FALSE(test, refcount_dec_and_test(&under));
					/* "underflow; use-after-free." */
}

static void report_trigger_rcu_stall(struct kunit *test)
{
	unsigned long end = jiffies + RCU_STALL_SPIN_S * HZ;

	rcu_read_lock();
	/* A grace period that this reader blocks from its start. */
	start_poll_synchronize_rcu();
	while (time_before(jiffies, end)) {
		mdelay(1);
		/*
		 * UML preempts only where preemption is enabled again, never
		 * on return from an interrupt: let the grace-period kthread
		 * in, or the grace period never starts and nothing stalls.
		 */
		preempt_disable();
		preempt_enable();
	}
	rcu_read_unlock();
}

static void report_trigger_soft_lockup(struct kunit *test)
{
	preempt_disable();
	report_trigger_spin(SOFT_LOCKUP_SPIN_S);
	preempt_enable();
}

static void report_trigger_hung_task(struct kunit *test)
{
	/* TASK_UNINTERRUPTIBLE all along. */
	schedule_timeout_uninterruptible(HUNG_TASK_SLEEP_S * HZ);
}

static void report_trigger_oops(struct kunit *test)
{
	int *null = NULL;

	OPTIMIZER_HIDE_VAR(null);
	KUNIT_EXPECT_EQ(test, READ_ONCE(*null), 0);
}

static int report_trigger_array[4];

static void report_trigger_ubsan_bounds(struct kunit *test)
{
	size_t index = ARRAY_SIZE(report_trigger_array);

	OPTIMIZER_HIDE_VAR(index);
	KUNIT_EXPECT_EQ(test, report_trigger_array[index], 0);
}

static void report_trigger_lockdep_non_static_key(struct kunit *test)
{
	/* Zeroed memory, no spin_lock_init(): lockdep finds no key. */
	spinlock_t *lock = kunit_kzalloc(test, sizeof(*lock), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, lock);
	spin_lock(lock);
	spin_unlock(lock);
}

static struct kunit_case report_trigger_cases[] = {
	KUNIT_CASE(report_trigger_warn_on),
	KUNIT_CASE(report_trigger_refcount),
	KUNIT_CASE_SLOW(report_trigger_rcu_stall),
	KUNIT_CASE_SLOW(report_trigger_soft_lockup),
	KUNIT_CASE_SLOW(report_trigger_hung_task),
	KUNIT_CASE(report_trigger_oops),
	KUNIT_CASE(report_trigger_ubsan_bounds),
	KUNIT_CASE(report_trigger_lockdep_non_static_key),
	{}
};

static struct kunit_suite report_trigger_suite = {
	.name = "sva_kunit_report_trigger",
	.test_cases = report_trigger_cases,
};

kunit_test_suite(report_trigger_suite);

MODULE_DESCRIPTION("Test-only triggers for kernel reports (sva-kunit test data)");
MODULE_LICENSE("GPL");
