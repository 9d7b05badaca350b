// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the lifecycle of Shared Virtual Addressing in the IOMMU
 * core: "iommu: Support mm PASID 1:n with sva domains" (v6.8).
 *
 * The tests bind and unbind mms on the devices of a fake multi-instance
 * IOMMU driver (fake-iommu/) and check what the real core does: domain
 * sharing, every reference count, the PASID's lifetime (it lives until
 * __mmdrop()), and the order of mmgrab()/mmdrop() against the driver's
 * callbacks. The comments below state the invariants of the SVA lifecycle
 * that each case checks (I1-I13).
 */
#include <kunit/device.h>
#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/iommu.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mm_types.h>
#include <linux/mmu_context.h>
#include <linux/mmap_lock.h>
#include <linux/mmu_notifier.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "fake-iommu/fake-iommu.h"
#include "iommu-priv.h"

#define SVA_MAX_PASIDS		BIT(8)

struct sva_test_ctx {
	struct fake_iommu *iommu;
	struct device *dev;
	/* Every PASID an mm of this case was given */
	DECLARE_BITMAP(pasids_held, SVA_MAX_PASIDS);
	int live_domains;
	/*
	 * A device of a group went while the group kept a bond: its driver's
	 * release_device() stopped the PASID, and that counts as undone.
	 */
	bool member_left;
};

KUNIT_DEFINE_ACTION_WRAPPER(sva_unbind_action, iommu_sva_unbind_device,
			    struct iommu_sva *);
KUNIT_DEFINE_ACTION_WRAPPER(sva_mmput_action, mmput, struct mm_struct *);
KUNIT_DEFINE_ACTION_WRAPPER(sva_mmdrop_action, mmdrop, struct mm_struct *);
KUNIT_DEFINE_ACTION_WRAPPER(sva_domain_free_action, iommu_domain_free,
			    struct iommu_domain *);

static void sva_pasid_free_action(void *pasid)
{
	iommu_free_global_pasid((ioasid_t)(uintptr_t)pasid);
}

/* An expectation that prints the driver's call record when it fails. */
#define SVA_EXPECT_CALLS(test, op, dev, expected)			\
	do {								\
		struct kunit *__test = (test);				\
		enum fake_iommu_op __op = (op);				\
		unsigned int __want = (expected);			\
		unsigned int __got = fake_iommu_log_count(__test, __op, dev);	\
		KUNIT_EXPECT_EQ_MSG(__test, __got, __want, "calls to %s", \
				    fake_iommu_op_name(__op));		\
		if (__got != __want)					\
			fake_iommu_log_dump(__test);			\
	} while (0)

#define SVA_EXPECT_MM_COUNT(test, mm, expected)				\
	do {								\
		struct kunit *__test = (test);				\
		int __want = (expected);				\
		int __got = atomic_read(&(mm)->mm_count);		\
		KUNIT_EXPECT_EQ_MSG(__test, __got, __want,		\
				    "mm_count of the bound mm");	\
		if (__got != __want)					\
			fake_iommu_log_dump(__test);			\
	} while (0)

static struct fake_iommu *sva_iommu(struct kunit *test,
				    enum fake_iommu_policy policy,
				    enum fake_iommu_driver driver)
{
	struct fake_iommu_config cfg = { .policy = policy, .driver = driver };
	struct fake_iommu *iommu = fake_iommu_kunit_create(test, &cfg);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, iommu);
	return iommu;
}

static struct device *sva_dev_nosva(struct kunit *test,
				    struct fake_iommu *iommu,
				    struct fake_iommu_group *group,
				    u32 max_pasids)
{
	struct device *dev;

	dev = fake_iommu_kunit_add_device(test, iommu, group, max_pasids);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	KUNIT_ASSERT_NOT_NULL(test, dev->iommu_group);
	return dev;
}

/* A device as an SVA-capable driver would leave it: SVA enabled. */
static struct device *sva_dev(struct kunit *test, struct fake_iommu *iommu,
			      struct fake_iommu_group *group, u32 max_pasids)
{
	struct device *dev = sva_dev_nosva(test, iommu, group, max_pasids);

	KUNIT_ASSERT_EQ(test, 0,
			fake_iommu_dev_enable_sva(dev));
	return dev;
}

static struct mm_struct *sva_mm(struct kunit *test)
{
	struct mm_struct *mm = mm_alloc();

	KUNIT_ASSERT_NOT_NULL(test, mm);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_mmput_action, mm));
	return mm;
}

/* The process exits: its address space goes, its mm_count holders stay. */
static void sva_mm_exit(struct kunit *test, struct mm_struct *mm)
{
	kunit_release_action(test, sva_mmput_action, mm);
}

/* Keep the mm_struct itself alive until the end of the test. */
static void sva_mm_hold(struct kunit *test, struct mm_struct *mm)
{
	mmgrab(mm);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_mmdrop_action, mm));
}

static ioasid_t sva_pasid(struct mm_struct *mm)
{
	return mm_get_enqcmd_pasid(mm);
}

/* Remember @mm's PASID: the exit check wants it free again. */
static void sva_note_pasid(struct kunit *test, struct mm_struct *mm)
{
	struct sva_test_ctx *ctx = test->priv;
	ioasid_t pasid = sva_pasid(mm);

	if (ctx && mm->iommu_mm && pasid < SVA_MAX_PASIDS)
		__set_bit(pasid, ctx->pasids_held);
}

static struct iommu_sva *sva_bind(struct kunit *test, struct device *dev,
				  struct mm_struct *mm)
{
	struct iommu_sva *handle = iommu_sva_bind_device(dev, mm);

	sva_note_pasid(test, mm);
	if (IS_ERR_OR_NULL(handle))
		fake_iommu_log_dump(test);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, handle);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_unbind_action,
						  handle));
	return handle;
}

static void sva_unbind(struct kunit *test, struct iommu_sva *handle)
{
	kunit_release_action(test, sva_unbind_action, handle);
}

static struct iommu_domain *sva_domain(struct iommu_sva *handle)
{
	return handle->handle.domain;
}

static size_t sva_nr_domains(struct mm_struct *mm)
{
	return mm->iommu_mm ? list_count_nodes(&mm->iommu_mm->sva_domains) : 0;
}

/*
 * Which PASIDs of @dev's range the global allocator could hand out now:
 * take every free one, note it in @free, and give them all back. This
 * holds whatever order the allocator hands them out in.
 *
 * Return: how many there were.
 */
static unsigned int sva_free_pasids(struct device *dev, unsigned long *free,
				    unsigned int nbits)
{
	unsigned int n = 0, i;
	ioasid_t pasid;

	bitmap_zero(free, nbits);
	while ((pasid = iommu_alloc_global_pasid(dev)) != IOMMU_PASID_INVALID) {
		if (pasid < nbits)
			__set_bit(pasid, free);
		n++;
	}
	for_each_set_bit(i, free, nbits)
		iommu_free_global_pasid(i);
	return n;
}

/* Whether the global allocator could hand out @pasid now. */
static bool sva_pasid_free(struct device *dev, ioasid_t pasid)
{
	DECLARE_BITMAP(free, SVA_MAX_PASIDS);

	sva_free_pasids(dev, free, SVA_MAX_PASIDS);
	return pasid < SVA_MAX_PASIDS && test_bit(pasid, free);
}

/*
 * Take every free PASID of @dev's range until the end of the case, but
 * @keep: the next PASID the allocator hands out for @dev is then @keep,
 * whatever its policy, or none when @keep is IOMMU_PASID_INVALID.
 */
static void sva_take_pasids_but(struct kunit *test, struct device *dev,
				ioasid_t keep)
{
	bool kept = false;
	ioasid_t pasid;

	while ((pasid = iommu_alloc_global_pasid(dev)) != IOMMU_PASID_INVALID) {
		if (pasid == keep) {
			kept = true;
			continue;
		}
		KUNIT_ASSERT_EQ(test, 0,
				kunit_add_action_or_reset(test, sva_pasid_free_action,
							  (void *)(uintptr_t)pasid));
	}
	if (kept)
		iommu_free_global_pasid(keep);
	KUNIT_ASSERT_TRUE_MSG(test, kept || keep == IOMMU_PASID_INVALID,
			      "PASID %u is in use before the case", keep);
}

/* Calls of @op for @dev that succeeded, from the driver's record. */
static unsigned int sva_calls_ok(struct kunit *test, enum fake_iommu_op op,
				 struct device *dev)
{
	const struct fake_iommu_call *c;
	unsigned int i, n = 0;

	for (i = 0; (c = fake_iommu_log_entry(test, i)); i++)
		n += c->op == op && !c->ret && !strcmp(c->dev, dev_name(dev));
	return n;
}

/*
 * After a failed bind into a group: whatever order the core programmed
 * the devices in, each one it set was undone once, and no other
 * (I12, I13); @failing refused, so it was never set.
 */
static void sva_expect_group_undone(struct kunit *test, struct device **devs,
				    unsigned int n, struct device *failing)
{
	unsigned int i, set;

	for (i = 0; i < n; i++) {
		set = sva_calls_ok(test, FAKE_OP_SET_DEV_PASID, devs[i]);
		KUNIT_EXPECT_LE_MSG(test, set, 1, "device %u set more than once", i);
		SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, devs[i], set);
		KUNIT_EXPECT_EQ(test, fake_iommu_dev_pasids_set(devs[i]), 0);
	}
	SVA_EXPECT_CALLS(test, FAKE_OP_SET_DEV_PASID, failing, 1);
}

static bool sva_pasid_attached(struct device *dev, ioasid_t pasid)
{
	return !IS_ERR(iommu_attach_handle_get(dev->iommu_group, pasid, 0));
}

/*
 * Every set_dev_pasid that succeeded was undone exactly once, by the core
 * or, in a case where a device of a group went while the group kept its
 * bond, by the driver's release_device(); and nothing undid a PASID that
 * was not set (I12).
 */
static bool sva_driver_calls_balanced(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	unsigned int set, removed, bad_removes;

	set = fake_iommu_call_total(test, FAKE_OP_SET_DEV_PASID, false);
	removed = fake_iommu_call_total(test, FAKE_OP_REMOVE_DEV_PASID, false);
	if (ctx && ctx->member_left)
		removed += fake_iommu_call_total(test, FAKE_OP_RELEASE_PASID,
						 false);
	bad_removes = fake_iommu_call_total(test, FAKE_OP_REMOVE_DEV_PASID, true);

	KUNIT_EXPECT_EQ_MSG(test, set, removed,
			    "successful set_dev_pasid vs %s and %s (I12)",
			    fake_iommu_op_name(FAKE_OP_REMOVE_DEV_PASID),
			    fake_iommu_op_name(FAKE_OP_RELEASE_PASID));
	KUNIT_EXPECT_EQ_MSG(test, bad_removes, 0,
			    "%s for a PASID the device never had set (I12, I13)",
			    fake_iommu_op_name(FAKE_OP_REMOVE_DEV_PASID));
	return set == removed && !bad_removes;
}

/*
 * The fake driver's own rule: every SVA domain it programmed on a PASID
 * found the device in its fault queue, so that a fault on it from then on
 * has a handler. A check of the rig, not of the core.
 */
static bool sva_driver_iopf_ready(struct kunit *test)
{
	const struct fake_iommu_call *c;
	unsigned int i, late = 0;

	for (i = 0; (c = fake_iommu_log_entry(test, i)); i++)
		late += c->op == FAKE_OP_SET_DEV_PASID && !c->ret &&
			c->domain_type == IOMMU_DOMAIN_SVA && !c->iopf_queued;
	KUNIT_EXPECT_EQ_MSG(test, late, 0,
			    "SVA PASIDs programmed before the device was in its fault queue");
	return !late;
}

/*
 * Runs after everything the test body registered has been undone: no
 * domain may be left; every such mm is gone, so every PASID that an mm of
 * the case held must be free again (I1); and the driver's callbacks must
 * balance. The fake driver itself fails the case, at its end, if the core
 * broke the driver's contract.
 */
static void sva_check_released(void *data)
{
	struct kunit *test = data;
	struct sva_test_ctx *ctx = test->priv;
	DECLARE_BITMAP(free, SVA_MAX_PASIDS);
	DECLARE_BITMAP(kept, SVA_MAX_PASIDS);
	int live = fake_iommu_live_domains(test);
	bool balanced = sva_driver_calls_balanced(test);
	bool ok = sva_driver_iopf_ready(test) && balanced;
	bool pasids_ok;

	sva_free_pasids(ctx->dev, free, SVA_MAX_PASIDS);
	pasids_ok = !bitmap_andnot(kept, ctx->pasids_held, free,
				   SVA_MAX_PASIDS);
	KUNIT_EXPECT_EQ_MSG(test, live, ctx->live_domains,
			    "domains alive after the test released everything");
	KUNIT_EXPECT_TRUE_MSG(test, pasids_ok,
			      "PASIDs still allocated after every mm that held them was dropped (I1): %*pbl",
			      (int)SVA_MAX_PASIDS, kept);
	if (!ok || live != ctx->live_domains || !pasids_ok)
		fake_iommu_log_dump(test);
}

/*
 * Every case gets an instance and a SVA-enabled device of its own, and an
 * exit action that checks what the case left behind.
 */
static int sva_test_setup(struct kunit *test)
{
	DECLARE_BITMAP(free, SVA_MAX_PASIDS);
	struct sva_test_ctx *ctx;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	test->priv = ctx;

	ctx->iommu = sva_iommu(test, FAKE_IOMMU_SHARE_ANY, FAKE_IOMMU_DRIVER_A);
	ctx->dev = sva_dev(test, ctx->iommu, NULL, SVA_MAX_PASIDS);

	KUNIT_ASSERT_NE_MSG(test, sva_free_pasids(ctx->dev, free, SVA_MAX_PASIDS),
			    0, "no free PASID before the test started");
	ctx->live_domains = fake_iommu_live_domains(test);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_check_released,
						  test));
	fake_iommu_log_reset(test);
	return 0;
}

static int sva_test_init(struct kunit *test)
{
#ifdef FAKE_IOMMU_SVA_OFF_ON_X86
	/*
	 * This kernel has 72f98ef9a4be ("iommu: disable SVA when CONFIG_X86
	 * is set"): every bind fails on x86.
	 */
	if (IS_ENABLED(CONFIG_X86))
		kunit_skip(test,
			   "SVA is disabled on x86 in this kernel (stable 72f98ef9a4be): bind returns -EOPNOTSUPP");
#endif
	return sva_test_setup(test);
}

/* ---- iommu_sva_bind: one device, one mm ---- */

static void sva_test_bind_unbind_counts(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);
	struct iommu_sva *handle;
	ioasid_t pasid;

	KUNIT_EXPECT_NULL(test, mm->iommu_mm);
	handle = sva_bind(test, ctx->dev, mm);
	pasid = sva_pasid(mm);

	KUNIT_EXPECT_EQ(test, refcount_read(&handle->users), 1);
	KUNIT_EXPECT_EQ(test, sva_domain(handle)->users, 1);
	KUNIT_EXPECT_PTR_EQ(test, sva_domain(handle)->mm, mm);
	KUNIT_EXPECT_EQ(test, sva_domain(handle)->type, IOMMU_DOMAIN_SVA);
	KUNIT_EXPECT_EQ(test, iommu_sva_get_pasid(handle), pasid);
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 1);
	KUNIT_EXPECT_TRUE(test, sva_pasid_attached(ctx->dev, pasid));
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(ctx->dev, pasid));
	SVA_EXPECT_MM_COUNT(test, mm, base + 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_ALLOC_SVA, NULL, 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_SET_DEV_PASID, ctx->dev, 1);

	sva_unbind(test, handle);

	SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, ctx->dev, 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_FREE, NULL, 1);
	SVA_EXPECT_MM_COUNT(test, mm, base);
	KUNIT_EXPECT_FALSE(test, sva_pasid_attached(ctx->dev, pasid));
	KUNIT_EXPECT_EQ(test, fake_iommu_dev_pasids_set(ctx->dev), 0);
	/* The PASID outlives the last domain, until __mmdrop() (I6). */
	KUNIT_EXPECT_NOT_NULL(test, mm->iommu_mm);
	KUNIT_EXPECT_EQ(test, sva_pasid(mm), pasid);
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 0);
}

static const unsigned int sva_rebind_counts[] = { 2, 3, 5 };

static void sva_rebind_desc(const unsigned int *k, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "bound %u times", *k);
}

KUNIT_ARRAY_PARAM(sva_rebind, sva_rebind_counts, sva_rebind_desc);

/* The k binds of one (device, mm) share a handle; the last unbind detaches (I4). */
static void sva_test_rebind_same_handle(struct kunit *test)
{
	const unsigned int k = *(const unsigned int *)test->param_value;
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);
	struct iommu_sva *first, *handle;
	unsigned int i;

	first = sva_bind(test, ctx->dev, mm);
	for (i = 1; i < k; i++) {
		handle = sva_bind(test, ctx->dev, mm);
		KUNIT_EXPECT_PTR_EQ(test, handle, first);
	}
	KUNIT_EXPECT_EQ(test, refcount_read(&first->users), k);
	KUNIT_EXPECT_EQ(test, sva_domain(first)->users, 1);
	SVA_EXPECT_MM_COUNT(test, mm, base + 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_ALLOC_SVA, NULL, 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_SET_DEV_PASID, ctx->dev, 1);

	for (i = 1; i < k; i++) {
		sva_unbind(test, first);
		KUNIT_EXPECT_EQ(test, refcount_read(&first->users), k - i);
		SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, ctx->dev, 0);
		KUNIT_EXPECT_TRUE(test, sva_pasid_attached(ctx->dev,
							   sva_pasid(mm)));
	}
	sva_unbind(test, first);
	SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, ctx->dev, 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_FREE, NULL, 1);
	SVA_EXPECT_MM_COUNT(test, mm, base);
}

/*
 * The process is gone (mm_users == 0) and the domain holds the last
 * mm_count (I9), so the unbind frees the mm. Nothing may touch it
 * afterwards: KASAN reports any read of the mm or its iommu_mm.
 */
static void sva_test_unbind_after_exit_frees_mm(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm = sva_mm(test);
	struct iommu_sva *handle;
	ioasid_t pasid;

	handle = sva_bind(test, ctx->dev, mm);
	pasid = sva_pasid(mm);
	KUNIT_ASSERT_EQ(test, atomic_read(&mm->mm_count), 2);

	sva_mm_exit(test, mm);
	KUNIT_ASSERT_EQ(test, atomic_read(&mm->mm_count), 1);
	/* The PASID belongs to the mm_struct, not the address space (I1). */
	KUNIT_EXPECT_FALSE(test, sva_pasid_free(ctx->dev, pasid));

	sva_unbind(test, handle);
	/* mm is freed now, and its PASID with it. */
	KUNIT_EXPECT_TRUE(test, sva_pasid_free(ctx->dev, pasid));
	SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, ctx->dev, 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_FREE, NULL, 1);
}

/*
 * The domain takes its mm_count after the driver allocated it, holds it
 * while attached, and the core drops it before the driver's free (I2, I9).
 */
static void sva_test_mmgrab_mmdrop_order(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm = sva_mm(test);
	const struct fake_iommu_call *alloc, *set, *remove, *free;
	struct iommu_sva *handle;
	int base, ia, is, ir, ifr;

	sva_mm_hold(test, mm);
	fake_iommu_watch_mm(test, mm);
	base = atomic_read(&mm->mm_count);

	handle = sva_bind(test, ctx->dev, mm);
	sva_unbind(test, handle);

	ia = fake_iommu_log_find(test, FAKE_OP_DOMAIN_ALLOC_SVA, NULL, 0);
	is = fake_iommu_log_find(test, FAKE_OP_SET_DEV_PASID, ctx->dev, 0);
	ir = fake_iommu_log_find(test, FAKE_OP_REMOVE_DEV_PASID, ctx->dev, 0);
	ifr = fake_iommu_log_find(test, FAKE_OP_DOMAIN_FREE, NULL, 0);
	if (ia < 0 || is < 0 || ir < 0 || ifr < 0 ||
	    !(ia < is && is < ir && ir < ifr))
		fake_iommu_log_dump(test);
	KUNIT_ASSERT_TRUE_MSG(test, ia >= 0 && is >= 0 && ir >= 0 && ifr >= 0,
			      "a driver callback is missing from the record");
	KUNIT_EXPECT_TRUE_MSG(test, ia < is && is < ir && ir < ifr,
			      "expected alloc < set_dev_pasid < %s < free",
			      fake_iommu_op_name(FAKE_OP_REMOVE_DEV_PASID));

	alloc = fake_iommu_log_entry(test, ia);
	set = fake_iommu_log_entry(test, is);
	remove = fake_iommu_log_entry(test, ir);
	free = fake_iommu_log_entry(test, ifr);
	KUNIT_EXPECT_EQ_MSG(test, alloc->mm_count, base,
			    "mm_count when the driver allocates the domain");
	KUNIT_EXPECT_EQ_MSG(test, set->mm_count, base + 1,
			    "mm_count while the domain is attached");
	KUNIT_EXPECT_EQ_MSG(test, remove->mm_count, base + 1,
			    "mm_count while the domain is detached");
	KUNIT_EXPECT_EQ_MSG(test, free->mm_count, base,
			    "mm_count when the driver frees the domain (core drops first)");
	if (alloc->mm_count != base || set->mm_count != base + 1 ||
	    remove->mm_count != base + 1 || free->mm_count != base)
		fake_iommu_log_dump(test);
}

/* ---- iommu_sva_pasid: the mm's PASID ---- */

/* One PASID per mm, kept across cycles, while domains come and go (I1, I6). */
static void sva_test_pasid_stable_across_cycles(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);
	struct iommu_sva *handle;
	ioasid_t pasid = IOMMU_PASID_INVALID;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		handle = sva_bind(test, ctx->dev, mm);
		if (!i)
			pasid = sva_pasid(mm);
		KUNIT_EXPECT_EQ_MSG(test, sva_pasid(mm), pasid, "cycle %u", i);
		KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 1);
		sva_unbind(test, handle);
		KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 0);
		KUNIT_EXPECT_EQ_MSG(test, sva_pasid(mm), pasid, "cycle %u", i);
	}
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_ALLOC_SVA, NULL, 4);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_FREE, NULL, 4);
	SVA_EXPECT_MM_COUNT(test, mm, base);
}

/* Two live mms never share a PASID; both are in the device's range (I1). */
static void sva_test_pasid_distinct_between_mms(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm1 = sva_mm(test), *mm2 = sva_mm(test);
	struct iommu_sva *h1, *h2;

	h1 = sva_bind(test, ctx->dev, mm1);
	h2 = sva_bind(test, ctx->dev, mm2);
	KUNIT_EXPECT_NE(test, sva_pasid(mm1), sva_pasid(mm2));
	KUNIT_EXPECT_GE(test, sva_pasid(mm1), 1);
	KUNIT_EXPECT_LT(test, sva_pasid(mm1), ctx->dev->iommu->max_pasids);
	KUNIT_EXPECT_GE(test, sva_pasid(mm2), 1);
	KUNIT_EXPECT_LT(test, sva_pasid(mm2), ctx->dev->iommu->max_pasids);
	KUNIT_EXPECT_PTR_NE(test, sva_domain(h1), sva_domain(h2));
	KUNIT_EXPECT_EQ(test, fake_iommu_dev_pasids_set(ctx->dev), 2);

	/* Unbinding one leaves the other's PASID where it was. */
	sva_unbind(test, h1);
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(ctx->dev,
							 sva_pasid(mm2)));
	KUNIT_EXPECT_FALSE(test, fake_iommu_dev_pasid_set(ctx->dev,
							  sva_pasid(mm1)));
}

static const u32 sva_small_pasid_widths[] = { 2, 4, 16 };

static void sva_width_desc(const u32 *max, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "max_pasids %u", *max);
}

KUNIT_ARRAY_PARAM(sva_width, sva_small_pasid_widths, sva_width_desc);

/*
 * Binds take free PASIDs below max_pasids, a distinct one each, until
 * none is left; one more is -ENOSPC and leaves no trace (I1, I8). Only
 * the PASIDs free when the case starts are counted on: an mm of an earlier
 * case may still hold one (an idle CPU keeps its lazy TLB mm).
 */
static void sva_test_pasid_range_and_exhaustion(struct kunit *test)
{
	const u32 max = *(const u32 *)test->param_value;
	struct sva_test_ctx *ctx = test->priv;
	struct device *dev = sva_dev(test, ctx->iommu, NULL, max);
	struct mm_struct *extra = sva_mm(test);
	DECLARE_BITMAP(free, SVA_MAX_PASIDS);
	struct iommu_sva *err;
	unsigned int calls, n, i;

	KUNIT_ASSERT_EQ(test, dev->iommu->max_pasids, max);
	n = sva_free_pasids(dev, free, SVA_MAX_PASIDS);
	KUNIT_EXPECT_LE_MSG(test, n, max - 1,
			    "the allocator offers PASIDs the device cannot encode");
	for (i = 0; i < n; i++) {
		struct mm_struct *mm = sva_mm(test);
		ioasid_t pasid;

		sva_bind(test, dev, mm);
		pasid = sva_pasid(mm);
		KUNIT_EXPECT_TRUE_MSG(test, pasid < max && test_bit(pasid, free),
				      "bind %u of %u got PASID %u: not one of the free PASIDs below %u (%*pbl)",
				      i + 1, n, pasid, max,
				      (int)SVA_MAX_PASIDS, free);
		if (pasid < SVA_MAX_PASIDS)
			__clear_bit(pasid, free);
	}

	calls = fake_iommu_log_len(test);
	err = iommu_sva_bind_device(dev, extra);
	KUNIT_EXPECT_TRUE(test, IS_ERR(err));
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), -ENOSPC);
	KUNIT_EXPECT_NULL(test, extra->iommu_mm);
	KUNIT_EXPECT_EQ_MSG(test, fake_iommu_log_len(test), calls,
			    "the driver was called for a bind that had no PASID");
	SVA_EXPECT_MM_COUNT(test, extra, 1);
}

/* An mm whose PASID the device cannot encode gets -EOVERFLOW (I8). */
static void sva_test_pasid_too_large_eoverflow(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct device *narrow = sva_dev(test, ctx->iommu, NULL, 2);
	struct mm_struct *mm1 = sva_mm(test), *mm2 = sva_mm(test);
	struct iommu_sva *err;
	unsigned int calls;
	int base;

	/* The narrow device's one PASID is taken: mm2's cannot be it. */
	sva_take_pasids_but(test, narrow, IOMMU_PASID_INVALID);
	sva_bind(test, ctx->dev, mm1);
	sva_bind(test, ctx->dev, mm2);
	KUNIT_ASSERT_GE(test, sva_pasid(mm2), 2);
	base = atomic_read(&mm2->mm_count);
	calls = fake_iommu_log_len(test);

	err = iommu_sva_bind_device(narrow, mm2);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), -EOVERFLOW);
	KUNIT_EXPECT_EQ(test, fake_iommu_log_len(test), calls);
	SVA_EXPECT_MM_COUNT(test, mm2, base);
	KUNIT_EXPECT_FALSE(test, sva_pasid_attached(narrow, sva_pasid(mm2)));
}

/*
 * An unbound mm keeps its PASID until __mmdrop() (I1): even after the
 * process exits, while something still holds mm_count, no other mm gets
 * it. Only then is it handed out again. Every other PASID of the range is
 * taken first, so that this holds under any allocation policy.
 */
static void sva_test_pasid_reused_only_after_mmdrop(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm1 = sva_mm(test), *mm2 = sva_mm(test);
	struct mm_struct *mm3 = sva_mm(test);
	struct iommu_sva *handle, *err;
	ioasid_t pasid;

	handle = sva_bind(test, ctx->dev, mm1);
	pasid = sva_pasid(mm1);
	sva_take_pasids_but(test, ctx->dev, IOMMU_PASID_INVALID);
	mmgrab(mm1);
	sva_unbind(test, handle);
	sva_mm_exit(test, mm1);

	/* mm_users is 0, mm_count is ours: the PASID must stay mm1's. */
	KUNIT_EXPECT_NOT_NULL(test, READ_ONCE(mm1->iommu_mm));
	KUNIT_EXPECT_EQ(test, sva_pasid(mm1), pasid);
	err = iommu_sva_bind_device(ctx->dev, mm2);
	sva_note_pasid(test, mm2);
	KUNIT_EXPECT_EQ_MSG(test, PTR_ERR_OR_ZERO(err), -ENOSPC,
			    "PASID %u reused while its mm still had mm_count",
			    pasid);
	if (!IS_ERR_OR_NULL(err))
		iommu_sva_unbind_device(err);

	mmdrop(mm1);
	sva_bind(test, ctx->dev, mm3);
	KUNIT_EXPECT_EQ_MSG(test, sva_pasid(mm3), pasid,
			    "PASID of a dropped mm not handed out again");
}

/* ---- iommu_sva_share: one domain per (mm, compatible instance) ---- */

enum sva_unbind_order { SVA_UNBIND_FIFO, SVA_UNBIND_LIFO };

struct sva_share_param {
	enum fake_iommu_policy policy;
	enum sva_unbind_order order;
	const char *desc;
};

static const struct sva_share_param sva_share_params[] = {
	{ FAKE_IOMMU_SHARE_ANY, SVA_UNBIND_FIFO, "share-any, unbind first-bound first" },
	{ FAKE_IOMMU_SHARE_ANY, SVA_UNBIND_LIFO, "share-any, unbind last-bound first" },
	{ FAKE_IOMMU_SHARE_OWN, SVA_UNBIND_FIFO, "share-own, unbind first-bound first" },
	{ FAKE_IOMMU_SHARE_OWN, SVA_UNBIND_LIFO, "share-own, unbind last-bound first" },
};

KUNIT_ARRAY_PARAM_DESC(sva_share, sva_share_params, desc);

#define SVA_MAX_HANDLES	4

/*
 * Domains of @domains[0..@n) whose every handle is in @gone: those the
 * core must have freed by now. Compares pointers only: a freed domain is
 * never dereferenced.
 */
static unsigned int sva_domains_released(struct iommu_domain **domains,
					 const bool *gone, unsigned int n)
{
	unsigned int i, j, released = 0;

	for (i = 0; i < n; i++) {
		bool first = true, all_gone = true;

		for (j = 0; j < n; j++) {
			if (domains[j] != domains[i])
				continue;
			first &= j >= i;
			all_gone &= gone[j];
		}
		released += first && all_gone;
	}
	return released;
}

/*
 * Unbind @n handles in the parameter's order, checking after each that
 * only that device lost its PASID (I5), and that a domain is freed in the
 * very unbind that takes its last device, not before and not after (I6).
 */
static void sva_unbind_all(struct kunit *test, struct iommu_sva **handles,
			   struct device **devs, unsigned int n,
			   enum sva_unbind_order order, struct mm_struct *mm)
{
	struct iommu_domain *domains[SVA_MAX_HANDLES];
	bool gone[SVA_MAX_HANDLES] = { };
	unsigned int frees = fake_iommu_log_count(test, FAKE_OP_DOMAIN_FREE, NULL);
	ioasid_t pasid = sva_pasid(mm);
	unsigned int step, i, j;

	KUNIT_ASSERT_LE(test, n, SVA_MAX_HANDLES);
	for (i = 0; i < n; i++)
		domains[i] = sva_domain(handles[i]);

	for (step = 0; step < n; step++) {
		i = order == SVA_UNBIND_FIFO ? step : n - 1 - step;
		sva_unbind(test, handles[i]);
		gone[i] = true;
		KUNIT_EXPECT_FALSE_MSG(test,
				       fake_iommu_dev_pasid_set(devs[i], pasid),
				       "device %u still attached after its unbind", i);
		for (j = 0; j < n; j++)
			if (!gone[j])
				KUNIT_EXPECT_TRUE_MSG(test,
						      fake_iommu_dev_pasid_set(devs[j], pasid),
						      "device %u detached by the unbind of device %u",
						      j, i);
		SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_FREE, NULL,
				 frees + sva_domains_released(domains, gone, n));
	}
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 0);
}

/* Devices of one instance share a domain, detached one by one (I3, I5). */
static void sva_test_share_one_instance(struct kunit *test)
{
	const struct sva_share_param *p = test->param_value;
	struct fake_iommu *iommu = sva_iommu(test, p->policy,
					     FAKE_IOMMU_DRIVER_A);
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);
	struct iommu_sva *handles[3];
	struct device *devs[3];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(devs); i++) {
		devs[i] = sva_dev(test, iommu, NULL, SVA_MAX_PASIDS);
		handles[i] = sva_bind(test, devs[i], mm);
		KUNIT_EXPECT_PTR_EQ(test, sva_domain(handles[i]),
				    sva_domain(handles[0]));
	}
	KUNIT_EXPECT_EQ(test, sva_domain(handles[0])->users, 3);
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 1);
	SVA_EXPECT_MM_COUNT(test, mm, base + 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_ALLOC_SVA, NULL, 1);

	sva_unbind_all(test, handles, devs, ARRAY_SIZE(devs), p->order, mm);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_FREE, NULL, 1);
	SVA_EXPECT_MM_COUNT(test, mm, base);
}

/*
 * Across instances of one driver, a share-any instance reuses the domain,
 * a share-own instance rejects it and gets its own (I3), with the same
 * PASID and one more mm_count (I2).
 */
static void sva_test_share_across_instances(struct kunit *test)
{
	const struct sva_share_param *p = test->param_value;
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);
	bool share = p->policy == FAKE_IOMMU_SHARE_ANY;
	struct iommu_sva *handles[3];
	struct device *devs[3];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(devs); i++) {
		struct fake_iommu *iommu = sva_iommu(test, p->policy,
						     FAKE_IOMMU_DRIVER_A);

		devs[i] = sva_dev(test, iommu, NULL, SVA_MAX_PASIDS);
		handles[i] = sva_bind(test, devs[i], mm);
		KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(devs[i],
								 sva_pasid(mm)));
	}
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), share ? 1 : 3);
	KUNIT_EXPECT_EQ(test, sva_domain(handles[0])->users, share ? 3 : 1);
	SVA_EXPECT_MM_COUNT(test, mm, base + (share ? 1 : 3));
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_ALLOC_SVA, NULL, share ? 1 : 3);

	sva_unbind_all(test, handles, devs, ARRAY_SIZE(devs), p->order, mm);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_FREE, NULL, share ? 1 : 3);
	SVA_EXPECT_MM_COUNT(test, mm, base);
}

/* The core never offers one driver's domain to another driver (I3). */
static void sva_test_share_across_drivers(struct kunit *test)
{
	struct fake_iommu *other = sva_iommu(test, FAKE_IOMMU_SHARE_ANY,
					     FAKE_IOMMU_DRIVER_B);
	struct sva_test_ctx *ctx = test->priv;
	struct device *dev_b = sva_dev(test, other, NULL, SVA_MAX_PASIDS);
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);
	struct iommu_sva *ha, *hb;

	ha = sva_bind(test, ctx->dev, mm);
	hb = sva_bind(test, dev_b, mm);
	KUNIT_EXPECT_PTR_NE(test, sva_domain(ha), sva_domain(hb));
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 2);
	SVA_EXPECT_MM_COUNT(test, mm, base + 2);
	/* The owner check is the core's: driver B never saw A's domain. */
	SVA_EXPECT_CALLS(test, FAKE_OP_SET_DEV_PASID, dev_b, 1);
}

/*
 * 6384c56c99d9: a second device that joined a shared domain binds again;
 * its handle must be refcounted like the first device's.
 */
static void sva_test_share_rebind_second_device(struct kunit *test)
{
	const struct sva_share_param *p = test->param_value;
	struct fake_iommu *iommu = sva_iommu(test, p->policy,
					     FAKE_IOMMU_DRIVER_A);
	struct device *devs[2];
	struct iommu_sva *handles[2], *again;
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);

	devs[0] = sva_dev(test, iommu, NULL, SVA_MAX_PASIDS);
	devs[1] = sva_dev(test, iommu, NULL, SVA_MAX_PASIDS);
	handles[0] = sva_bind(test, devs[0], mm);
	handles[1] = sva_bind(test, devs[1], mm);
	again = sva_bind(test, devs[1], mm);
	KUNIT_EXPECT_PTR_EQ(test, again, handles[1]);
	KUNIT_EXPECT_EQ(test, refcount_read(&handles[1]->users), 2);
	KUNIT_EXPECT_EQ(test, sva_domain(handles[0])->users, 2);

	sva_unbind(test, again);
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(devs[1], sva_pasid(mm)));
	sva_unbind_all(test, handles, devs, 2, p->order, mm);
	SVA_EXPECT_MM_COUNT(test, mm, base);
}

static const unsigned int sva_third_instance[] = { 0, 1 };

static void sva_third_desc(const unsigned int *which, char *desc)
{
	strscpy(desc, *which ? "third device behind instance Y (newest domain)" :
		"third device behind instance X (oldest domain)",
		KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(sva_third, sva_third_instance, sva_third_desc);

/*
 * Domain sharing with more than one domain on the mm's list (I3): under
 * share-own, bind on instance X, then on Y (each gets its own domain),
 * then on a second device of X or of Y. The core must try every domain on
 * the list until one is accepted, so the third bind reuses its instance's
 * domain whether that domain is the newest on the list or the oldest.
 */
static void sva_test_share_third_bind_finds_domain(struct kunit *test)
{
	const unsigned int which = *(const unsigned int *)test->param_value;
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);
	struct fake_iommu *iommus[2];
	struct iommu_sva *handles[3];
	struct device *devs[3];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		iommus[i] = sva_iommu(test, FAKE_IOMMU_SHARE_OWN,
				      FAKE_IOMMU_DRIVER_A);
		devs[i] = sva_dev(test, iommus[i], NULL, SVA_MAX_PASIDS);
		handles[i] = sva_bind(test, devs[i], mm);
	}
	KUNIT_ASSERT_PTR_NE(test, sva_domain(handles[0]), sva_domain(handles[1]));
	KUNIT_ASSERT_EQ(test, sva_nr_domains(mm), 2);

	devs[2] = sva_dev(test, iommus[which], NULL, SVA_MAX_PASIDS);
	handles[2] = sva_bind(test, devs[2], mm);
	KUNIT_EXPECT_PTR_EQ_MSG(test, sva_domain(handles[2]),
				sva_domain(handles[which]),
				"the third bind did not reuse its instance's domain");
	KUNIT_EXPECT_EQ(test, sva_domain(handles[which])->users, 2);
	KUNIT_EXPECT_EQ(test, sva_domain(handles[!which])->users, 1);
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 2);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_ALLOC_SVA, NULL, 2);
	SVA_EXPECT_MM_COUNT(test, mm, base + 2);

	sva_unbind_all(test, handles, devs, ARRAY_SIZE(devs), SVA_UNBIND_FIFO,
		       mm);
	SVA_EXPECT_MM_COUNT(test, mm, base);
}

/* One mm_count per live domain, over several instances (I2). */
static void sva_test_mm_count_per_domain(struct kunit *test)
{
	const struct sva_share_param *p = test->param_value;
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);
	bool share = p->policy == FAKE_IOMMU_SHARE_ANY;
	struct iommu_sva *handles[4];
	struct device *devs[4];
	unsigned int i;

	/* Two instances, two devices each. */
	for (i = 0; i < ARRAY_SIZE(devs); i += 2) {
		struct fake_iommu *iommu = sva_iommu(test, p->policy,
						     FAKE_IOMMU_DRIVER_A);

		devs[i] = sva_dev(test, iommu, NULL, SVA_MAX_PASIDS);
		devs[i + 1] = sva_dev(test, iommu, NULL, SVA_MAX_PASIDS);
	}
	for (i = 0; i < ARRAY_SIZE(devs); i++) {
		handles[i] = sva_bind(test, devs[i], mm);
		/* A second bind adds a handle reference, not an mm one. */
		sva_unbind(test, sva_bind(test, devs[i], mm));
	}
	SVA_EXPECT_MM_COUNT(test, mm, base + (share ? 1 : 2));
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), share ? 1 : 2);

	sva_unbind_all(test, handles, devs, ARRAY_SIZE(devs), p->order, mm);
	SVA_EXPECT_MM_COUNT(test, mm, base);
}

/* ---- iommu_sva_errors: failed binds (I7, I8) ---- */

static void sva_expect_no_trace(struct kunit *test, struct device *dev,
				struct mm_struct *mm, int base, int live)
{
	KUNIT_EXPECT_EQ_MSG(test, fake_iommu_live_domains(test), live,
			    "domain left behind by a failed bind (I7)");
	SVA_EXPECT_MM_COUNT(test, mm, base);
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 0);
	KUNIT_EXPECT_EQ(test, fake_iommu_dev_pasids_set(dev), 0);
	if (mm->iommu_mm)
		KUNIT_EXPECT_FALSE_MSG(test, sva_pasid_attached(dev, sva_pasid(mm)),
				       "pasid_array entry left by a failed bind (I7)");
}

/* A registered device that no IOMMU translates for gets -ENODEV (I8). */
static void sva_test_error_no_group_enodev(struct kunit *test)
{
	struct device *dev = kunit_device_register(test, "sva-no-iommu");
	struct mm_struct *mm = sva_mm(test);
	struct iommu_sva *err;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	KUNIT_ASSERT_NULL(test, dev->iommu_group);
	err = iommu_sva_bind_device(dev, mm);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), -ENODEV);
	KUNIT_EXPECT_NULL(test, mm->iommu_mm);
	SVA_EXPECT_MM_COUNT(test, mm, 1);
}

struct sva_fault_param {
	enum fake_iommu_fault_site site;
	bool whole_instance;
	int err;
	const char *desc;
};

static const struct sva_fault_param sva_fault_params[] = {
	{ FAKE_FAULT_DOMAIN_ALLOC, false, -ENOMEM, "device: domain allocation fails" },
	{ FAKE_FAULT_SET_DEV_PASID, false, -EIO, "device: set_dev_pasid fails" },
	{ FAKE_FAULT_DOMAIN_ALLOC, true, -ENOSPC, "instance: domain allocation fails" },
	{ FAKE_FAULT_SET_DEV_PASID, true, -ETIMEDOUT, "instance: set_dev_pasid fails" },
};

KUNIT_ARRAY_PARAM_DESC(sva_fault, sva_fault_params, desc);

/* A failing driver leaves nothing behind, and the error comes back (I7, I8). */
static void sva_test_error_driver_failure(struct kunit *test)
{
	const struct sva_fault_param *p = test->param_value;
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);
	int live = fake_iommu_live_domains(test);
	struct iommu_sva *err;
	ioasid_t pasid;

	if (p->whole_instance)
		fake_iommu_inject_fault(ctx->iommu, p->site, 1, p->err);
	else
		fake_iommu_dev_inject_fault(ctx->dev, p->site, 1, p->err);
	err = iommu_sva_bind_device(ctx->dev, mm);
	KUNIT_EXPECT_TRUE(test, IS_ERR(err));
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), p->err);
	sva_expect_no_trace(test, ctx->dev, mm, base, live);
	SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_FREE, NULL,
			 p->site == FAKE_FAULT_SET_DEV_PASID ? 1 : 0);

	/*
	 * The failed bind gave the mm its PASID (it stays until __mmdrop());
	 * the next bind works and gets that same PASID.
	 */
	if (!IS_ERR_OR_NULL(err))
		return;
	sva_note_pasid(test, mm);
	KUNIT_ASSERT_NOT_NULL(test, mm->iommu_mm);
	pasid = sva_pasid(mm);
	sva_bind(test, ctx->dev, mm);
	KUNIT_EXPECT_EQ(test, sva_pasid(mm), pasid);
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(ctx->dev, pasid));
	SVA_EXPECT_MM_COUNT(test, mm, base + 1);
}

/* SVA not enabled on the device: the driver refuses, nothing stays (I7). */
static void sva_test_error_sva_not_enabled(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct device *dev = sva_dev_nosva(test, ctx->iommu, NULL,
					   SVA_MAX_PASIDS);
	struct mm_struct *mm = sva_mm(test);
	int live = fake_iommu_live_domains(test);
	struct iommu_sva *err;

	err = iommu_sva_bind_device(dev, mm);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), -ENODEV);
	sva_expect_no_trace(test, dev, mm, 1, live);
}

/* A device without PASID support can never be bound (I8). */
static void sva_test_error_no_pasid_support(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct device *dev = sva_dev_nosva(test, ctx->iommu, NULL, 0);
	struct mm_struct *fresh = sva_mm(test), *bound = sva_mm(test);
	struct iommu_sva *err;

	KUNIT_EXPECT_EQ(test, dev->iommu->max_pasids, 0);
	KUNIT_EXPECT_EQ(test, fake_iommu_dev_enable_sva(dev),
			-ENODEV);

	err = iommu_sva_bind_device(dev, fresh);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), -ENOSPC);
	KUNIT_EXPECT_NULL(test, fresh->iommu_mm);

	sva_bind(test, ctx->dev, bound);
	err = iommu_sva_bind_device(dev, bound);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), -EOVERFLOW);
}

static const bool sva_busy_with_handle[] = { false, true };

static void sva_busy_desc(const bool *with_handle, char *desc)
{
	strscpy(desc, *with_handle ? "paging domain with an attach handle" :
		"paging domain without an attach handle", KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(sva_busy, sva_busy_with_handle, sva_busy_desc);

/* A paging domain attached to a PASID by hand, as a non-SVA user would. */
struct sva_pasid_user {
	struct iommu_domain *domain;
	struct device *dev;
	ioasid_t pasid;
};

static void sva_pasid_user_detach(void *data)
{
	struct sva_pasid_user *user = data;

	iommu_detach_device_pasid(user->domain, user->dev, user->pasid);
}

/* A paging domain of @dev's driver, freed at the end of the case */
static struct iommu_domain *sva_paging_domain(struct kunit *test,
					      struct device *dev)
{
	struct iommu_domain *domain = iommu_paging_domain_alloc(dev);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, domain);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_domain_free_action,
						  domain));
	return domain;
}

/* @domain on @dev's @pasid until the end of the case, before it is freed */
static void sva_attach_pasid(struct kunit *test, struct iommu_domain *domain,
			     struct device *dev, ioasid_t pasid,
			     struct iommu_attach_handle *attach)
{
	/* Freed by KUnit after the action below has run. */
	struct sva_pasid_user *user = kunit_kzalloc(test, sizeof(*user),
						    GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, user);
	KUNIT_ASSERT_EQ(test, 0,
			iommu_attach_device_pasid(domain, dev, pasid, attach));
	*user = (struct sva_pasid_user) { domain, dev, pasid };
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_pasid_user_detach,
						  user));
}

/* A PASID of @dev's range, free again at the end of the case */
static ioasid_t sva_global_pasid(struct kunit *test, struct device *dev)
{
	ioasid_t pasid = iommu_alloc_global_pasid(dev);

	KUNIT_ASSERT_NE_MSG(test, pasid, IOMMU_PASID_INVALID,
			    "no free PASID in the range of %s", dev_name(dev));
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_pasid_free_action,
						  (void *)(uintptr_t)pasid));
	return pasid;
}

/* The mm's PASID is taken by a non-SVA user of the device: -EBUSY (I7, I8). */
static void sva_test_error_pasid_busy(struct kunit *test)
{
	const bool with_handle = *(const bool *)test->param_value;
	struct sva_test_ctx *ctx = test->priv;
	struct device *dev = sva_dev(test, ctx->iommu, NULL, SVA_MAX_PASIDS);
	struct iommu_attach_handle *attach = NULL;
	struct mm_struct *mm = sva_mm(test);
	struct iommu_domain *paging;
	struct iommu_sva *err;
	int base, live;
	ioasid_t pasid;

	sva_bind(test, ctx->dev, mm);
	pasid = sva_pasid(mm);
	base = atomic_read(&mm->mm_count);

	paging = sva_paging_domain(test, dev);
	if (with_handle) {
		attach = kunit_kzalloc(test, sizeof(*attach), GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, attach);
	}
	sva_attach_pasid(test, paging, dev, pasid, attach);
	live = fake_iommu_live_domains(test);

	err = iommu_sva_bind_device(dev, mm);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), -EBUSY);
	KUNIT_EXPECT_EQ(test, fake_iommu_live_domains(test), live);
	SVA_EXPECT_MM_COUNT(test, mm, base);
	KUNIT_EXPECT_EQ(test, fake_iommu_dev_pasids_set(dev), 1);
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 1);
	if (with_handle)
		SVA_EXPECT_CALLS(test, FAKE_OP_DOMAIN_ALLOC_SVA, dev, 0);
}

/* ---- iommu_sva_group: several devices in one iommu_group (I13) ---- */

/* A bind programs every PASID-capable device of the group, once. */
static void sva_test_group_bind_all_devices(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct fake_iommu_group *group = fake_iommu_kunit_group(test);
	struct mm_struct *mm = sva_mm(test);
	struct iommu_sva *h0, *h1;
	struct device *devs[2];

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	devs[0] = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	devs[1] = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	KUNIT_ASSERT_PTR_EQ(test, devs[0]->iommu_group, devs[1]->iommu_group);

	h0 = sva_bind(test, devs[0], mm);
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(devs[1], sva_pasid(mm)));
	/* Same group, same PASID: the bond is the group's. */
	h1 = sva_bind(test, devs[1], mm);
	KUNIT_EXPECT_PTR_EQ(test, h0, h1);
	KUNIT_EXPECT_EQ(test, refcount_read(&h0->users), 2);
	SVA_EXPECT_CALLS(test, FAKE_OP_SET_DEV_PASID, NULL, 2);

	sva_unbind(test, h1);
	SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, NULL, 0);
	sva_unbind(test, h0);
	SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, devs[0], 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, devs[1], 1);
}

static const unsigned int sva_failing_member[] = { 0, 1, 2 };

static void sva_member_desc(const unsigned int *i, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "device %u of 3 fails", *i);
}

KUNIT_ARRAY_PARAM(sva_member, sva_failing_member, sva_member_desc);

/*
 * b025dea63cde: when set_dev_pasid fails on one device of a group, only the
 * devices set before it are undone (I13); the pasid_array has no entry.
 */
static void sva_test_group_partial_failure(struct kunit *test)
{
	const unsigned int bad = *(const unsigned int *)test->param_value;
	struct sva_test_ctx *ctx = test->priv;
	struct fake_iommu_group *group = fake_iommu_kunit_group(test);
	struct mm_struct *mm = sva_mm(test);
	int live = fake_iommu_live_domains(test);
	struct device *devs[3];
	struct iommu_sva *err;
	unsigned int i;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	for (i = 0; i < ARRAY_SIZE(devs); i++)
		devs[i] = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	fake_iommu_dev_inject_fault(devs[bad], FAKE_FAULT_SET_DEV_PASID, 1,
				    -EIO);

	err = iommu_sva_bind_device(devs[0], mm);
	sva_note_pasid(test, mm);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), -EIO);
	if (!IS_ERR_OR_NULL(err))
		iommu_sva_unbind_device(err);
	sva_expect_group_undone(test, devs, ARRAY_SIZE(devs), devs[bad]);
	sva_expect_no_trace(test, devs[0], mm, 1, live);
}

/* b3f6fcd8404f: a device without PASID support does not block its group. */
static void sva_test_group_with_no_pasid_device(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct fake_iommu_group *group = fake_iommu_kunit_group(test);
	struct mm_struct *mm = sva_mm(test);
	struct iommu_sva *handle;
	struct device *capable, *legacy;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	capable = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	legacy = sva_dev_nosva(test, ctx->iommu, group, 0);

	handle = sva_bind(test, capable, mm);
	SVA_EXPECT_CALLS(test, FAKE_OP_SET_DEV_PASID, capable, 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_SET_DEV_PASID, legacy, 0);
	sva_unbind(test, handle);
	SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, capable, 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, legacy, 0);
}

#define SVA_NARROW_PASIDS	16

static const bool sva_at_limit[] = { true, false };

static void sva_limit_desc(const bool *at_limit, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "PASID %u, %s",
		 SVA_NARROW_PASIDS - !*at_limit,
		 *at_limit ? "the narrow device's limit" : "just below it");
}

KUNIT_ARRAY_PARAM(sva_limit, sva_at_limit, sva_limit_desc);

/*
 * A group's PASID is set on every PASID-capable device in it, so it must
 * fit each of them (I1, I13). Bound through the wide device of a group that
 * also holds a device with 16 PASIDs, an mm with PASID 16 is refused with
 * -EINVAL before the driver sees anything; PASID 15 goes to both devices.
 */
static void sva_test_group_pasid_at_member_limit(struct kunit *test)
{
	const bool at_limit = *(const bool *)test->param_value;
	const ioasid_t target = SVA_NARROW_PASIDS - !at_limit;
	struct sva_test_ctx *ctx = test->priv;
	struct fake_iommu_group *group = fake_iommu_kunit_group(test);
	int live = fake_iommu_live_domains(test);
	struct device *wide, *narrow;
	struct iommu_sva *handle;
	struct mm_struct *mm;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	wide = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	narrow = sva_dev(test, ctx->iommu, group, SVA_NARROW_PASIDS);
	KUNIT_ASSERT_EQ(test, narrow->iommu->max_pasids, SVA_NARROW_PASIDS);
	/* Every other PASID is taken: the new mm can only get @target. */
	sva_take_pasids_but(test, wide, target);

	mm = sva_mm(test);
	handle = iommu_sva_bind_device(wide, mm);
	sva_note_pasid(test, mm);
	KUNIT_ASSERT_NOT_NULL(test, mm->iommu_mm);
	KUNIT_ASSERT_EQ(test, sva_pasid(mm), target);
	if (at_limit) {
		KUNIT_EXPECT_EQ_MSG(test, PTR_ERR_OR_ZERO(handle), -EINVAL,
				    "bind of PASID %u into a group with a %u-PASID device",
				    target, SVA_NARROW_PASIDS);
		if (!IS_ERR(handle))
			iommu_sva_unbind_device(handle);
		SVA_EXPECT_CALLS(test, FAKE_OP_SET_DEV_PASID, NULL, 0);
		sva_expect_no_trace(test, wide, mm, 1, live);
		sva_expect_no_trace(test, narrow, mm, 1, live);
		return;
	}

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, handle);
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(wide, target));
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(narrow, target));
	iommu_sva_unbind_device(handle);
	SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, wide, 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_REMOVE_DEV_PASID, narrow, 1);
}

static const bool sva_failing_probed_last[] = { true, false };

static void sva_failing_desc(const bool *last, char *desc)
{
	strscpy(desc, *last ? "failing device probed last" :
		"failing device probed first", KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(sva_failing, sva_failing_probed_last, sva_failing_desc);

/*
 * A group of a PASID device, a device without PASID support and a second
 * PASID device whose set_dev_pasid fails, probed in both orders so that,
 * whichever way the core walks the group, one of them sets the other PASID
 * device first and reverts across the one without PASID support. The core
 * undoes what it set only (I12): the device without PASID support was
 * never set, so the revert must not touch it either (I13).
 */
static void sva_test_group_revert_skips_no_pasid_device(struct kunit *test)
{
	const bool failing_last = *(const bool *)test->param_value;
	struct sva_test_ctx *ctx = test->priv;
	struct fake_iommu_group *group = fake_iommu_kunit_group(test);
	struct mm_struct *mm = sva_mm(test);
	int live = fake_iommu_live_domains(test);
	struct device *devs[3], *legacy, *failing;
	struct iommu_sva *err;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	devs[0] = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	legacy = sva_dev_nosva(test, ctx->iommu, group, 0);
	devs[1] = legacy;
	devs[2] = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	failing = devs[failing_last ? 2 : 0];
	fake_iommu_dev_inject_fault(failing, FAKE_FAULT_SET_DEV_PASID, 1, -EIO);

	err = iommu_sva_bind_device(devs[failing_last ? 0 : 2], mm);
	sva_note_pasid(test, mm);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), -EIO);
	if (!IS_ERR_OR_NULL(err))
		iommu_sva_unbind_device(err);
	SVA_EXPECT_CALLS(test, FAKE_OP_SET_DEV_PASID, legacy, 0);
	sva_expect_group_undone(test, devs, ARRAY_SIZE(devs), failing);
	sva_expect_no_trace(test, devs[0], mm, 1, live);
}

/* ---- iommu_sva_race: binds and unbinds from several threads ---- */

#define SVA_RACE_THREADS	4
#define SVA_RACE_LOOPS		200
#define SVA_RACE_TIMEOUT	(30 * HZ)
#define SVA_RACE_HOLD_EVERY	25
/* How long a race case may go on to see its threads overlap */
#define SVA_RACE_BUDGET		(3 * HZ)

struct sva_race;

struct sva_race_worker {
	struct sva_race *race;
	unsigned int instance;	/* which of the race's two instances */
	struct device *dev;
	struct mm_struct *mm;
	ioasid_t pasid;
	int err;
	unsigned int wrong_pasid;
	/* Binds that found the domain already in use by another device */
	unsigned int shared;
	unsigned int binds;
	struct completion done;
};

/* The threads of a race, and their binds per instance, to wait on. */
struct sva_race {
	wait_queue_head_t wq;
	unsigned long deadline;	/* of SVA_RACE_BUDGET */
	atomic_t binds[2];	/* successful binds on each instance so far */
	atomic_t running[2];	/* threads on each instance not done yet */
	atomic_t inside;	/* threads inside iommu_sva_bind_device() */
	atomic_t overlaps;	/* binds that started while another was inside */
	struct sva_race_worker workers[SVA_RACE_THREADS];
};

/*
 * Threads only overlap with a CPU each; on one CPU they merely take turns,
 * and a race case proves nothing there.
 */
static void sva_race_need_cpus(struct kunit *test)
{
	if (num_online_cpus() < 2)
		kunit_skip(test,
			   "needs two CPUs for its threads to overlap: CONFIG_SMP=y and ncpus=2 on UML (v6.17+), -smp 2 under QEMU");
}

/*
 * A call of the core that starts while another thread is inside one, the
 * proof that the threads of a race overlapped: returns whether one was.
 */
static bool sva_race_enter(atomic_t *inside)
{
	return atomic_inc_return(inside) > 1;
}

/*
 * Hold the bond until another thread of the same instance has bound since
 * our bind, the @mine-th of the instance (or none is left), so that its
 * bind finds our domain in use, even on one CPU without preemption. Of the
 * threads of an instance, only the one that bound last can wait, and the
 * others' next bind wakes it: two holders never wait for each other.
 */
static int sva_race_hold(struct sva_race_worker *w, int mine)
{
	struct sva_race *race = w->race;
	atomic_t *binds = &race->binds[w->instance];

	if (!wait_event_timeout(race->wq, atomic_read(binds) != mine ||
				atomic_read(&race->running[w->instance]) == 1,
				SVA_RACE_TIMEOUT))
		return -ETIMEDOUT;
	return 0;
}

/*
 * SVA_RACE_LOOPS binds each; on two CPUs more, within the budget, until
 * some bind has started while another was inside one.
 */
static bool sva_race_more(struct sva_race *race, unsigned int i)
{
	if (i < SVA_RACE_LOOPS)
		return true;
	return num_online_cpus() > 1 && !atomic_read(&race->overlaps) &&
	       time_before(jiffies, race->deadline);
}

static int sva_race_fn(void *data)
{
	struct sva_race_worker *w = data;
	struct sva_race *race = w->race;
	struct iommu_sva *handle;
	unsigned int i;
	int mine;

	for (i = 0; sva_race_more(race, i) && !w->err; i++) {
		if (sva_race_enter(&race->inside))
			atomic_inc(&race->overlaps);
		handle = iommu_sva_bind_device(w->dev, w->mm);
		atomic_dec(&race->inside);
		if (IS_ERR(handle)) {
			w->err = PTR_ERR(handle);
			break;
		}
		w->binds++;
		mine = atomic_inc_return(&race->binds[w->instance]);
		wake_up_all(&race->wq);
		if (iommu_sva_get_pasid(handle) != w->pasid)
			w->wrong_pasid++;
		/* Our handle keeps the domain; users changes under sva lock. */
		if (data_race(READ_ONCE(handle->handle.domain->users)) > 1)
			w->shared++;
		/* Now and then hold the bond; reschedule in between. */
		if (i % SVA_RACE_HOLD_EVERY == 0)
			w->err = sva_race_hold(w, mine);
		else if (i & 1)
			cond_resched();
		iommu_sva_unbind_device(handle);
	}
	atomic_dec(&race->running[w->instance]);
	wake_up_all(&race->wq);
	complete(&w->done);
	return 0;
}

static const enum fake_iommu_policy sva_race_policies[] = {
	FAKE_IOMMU_SHARE_ANY, FAKE_IOMMU_SHARE_OWN,
};

static void sva_policy_desc(const enum fake_iommu_policy *policy, char *desc)
{
	strscpy(desc, *policy == FAKE_IOMMU_SHARE_ANY ? "share-any" :
		"share-own", KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(sva_race, sva_race_policies, sva_policy_desc);

/*
 * Threads bind and unbind one mm on devices of two instances at once, so
 * that domains are created, shared and freed under each other's feet. Some
 * bind must have found a domain another thread's device was using; on two
 * CPUs or more, some bind must have started while another thread was
 * inside one; and the counts must balance at the end. KASAN, lockdep (and
 * KCSAN, when enabled) watch the interleavings.
 */
static void sva_test_race_bind_unbind(struct kunit *test)
{
	const enum fake_iommu_policy policy =
		*(const enum fake_iommu_policy *)test->param_value;
	struct sva_race_worker *workers;
	struct mm_struct *mm = sva_mm(test);
	struct fake_iommu *iommus[2];
	struct sva_race *race;
	unsigned int i, started, shared = 0, binds = 0, overlaps;
	unsigned long deadline;
	struct device *first;
	int base, live;
	ioasid_t pasid;

	iommus[0] = sva_iommu(test, policy, FAKE_IOMMU_DRIVER_A);
	iommus[1] = sva_iommu(test, policy, FAKE_IOMMU_DRIVER_A);
	/* Give the mm its PASID first: the threads must all see that one. */
	first = sva_dev(test, iommus[0], NULL, SVA_MAX_PASIDS);
	sva_unbind(test, sva_bind(test, first, mm));
	pasid = sva_pasid(mm);
	base = atomic_read(&mm->mm_count);
	live = fake_iommu_live_domains(test);

	/*
	 * Not KUnit-managed: a worker that hangs still owns its slot after
	 * the case has failed, so then the array is left allocated.
	 */
	race = kzalloc_obj(*race);
	KUNIT_ASSERT_NOT_NULL(test, race);
	workers = race->workers;
	init_waitqueue_head(&race->wq);
	race->deadline = jiffies + SVA_RACE_BUDGET;
	for (i = 0; i < SVA_RACE_THREADS; i++) {
		atomic_inc(&race->running[i % 2]);
		workers[i] = (struct sva_race_worker) {
			.race = race,
			.instance = i % 2,
			.dev = fake_iommu_kunit_add_device(test, iommus[i % 2],
							   NULL, SVA_MAX_PASIDS),
			.mm = mm,
			.pasid = pasid,
		};
		init_completion(&workers[i].done);
		if (IS_ERR(workers[i].dev) ||
		    fake_iommu_dev_enable_sva(workers[i].dev)) {
			kfree(race);
			KUNIT_FAIL(test, "could not add SVA device %u", i);
			return;
		}
	}
	for (started = 0; started < SVA_RACE_THREADS; started++) {
		struct task_struct *task;

		task = kthread_create(sva_race_fn, &workers[started],
				      "sva-race-%u", started);
		/*
		 * Threads that seldom sleep stay on the CPU that made them:
		 * spread them over the CPUs there are.
		 */
		if (!IS_ERR(task)) {
			kthread_bind(task, cpumask_local_spread(started,
								NUMA_NO_NODE));
			wake_up_process(task);
		}
		if (IS_ERR(task)) {
			KUNIT_FAIL(test, "kthread_create: %pe", task);
			/* Those that will not run are done. */
			for (i = started; i < SVA_RACE_THREADS; i++)
				atomic_dec(&race->running[i % 2]);
			wake_up_all(&race->wq);
			break;
		}
	}
	deadline = jiffies + SVA_RACE_TIMEOUT;
	for (i = 0; i < started; i++) {
		long left = max_t(long, (long)(deadline - jiffies), 1);

		if (!wait_for_completion_timeout(&workers[i].done, left)) {
			KUNIT_FAIL(test, "thread %u hangs in bind or unbind (%u s)",
				   i, SVA_RACE_TIMEOUT / HZ);
			return;
		}
	}
	for (i = 0; i < started; i++) {
		KUNIT_EXPECT_EQ_MSG(test, workers[i].err, 0, "thread %u", i);
		KUNIT_EXPECT_EQ_MSG(test, workers[i].wrong_pasid, 0, "thread %u", i);
		KUNIT_EXPECT_EQ(test, fake_iommu_dev_pasids_set(workers[i].dev), 0);
		shared += workers[i].shared;
		binds += workers[i].binds;
	}
	overlaps = atomic_read(&race->overlaps);
	kfree(race);
	KUNIT_EXPECT_GT_MSG(test, shared, 0,
			    "no bind found a domain in use by another thread's device");
	kunit_info(test, "%u of %u binds shared a domain with another thread, %u started while another thread was inside a bind (%u CPUs)\n",
		   shared, binds, overlaps,
		   num_online_cpus());
	/*
	 * On one CPU the holds above still make the threads' binds share
	 * domains in every order; only with two can they be inside at once.
	 */
	if (num_online_cpus() > 1)
		KUNIT_EXPECT_GT_MSG(test, overlaps, 0,
				    "the threads never overlapped: no bind started while another was inside one");
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 0);
	KUNIT_EXPECT_EQ(test, fake_iommu_live_domains(test), live);
	SVA_EXPECT_MM_COUNT(test, mm, base);
	KUNIT_EXPECT_EQ(test, sva_pasid(mm), pasid);
}

/*
 * The first bind of a fresh mm from several threads at once: it allocates
 * the mm's iommu_mm and PASID and publishes mm->iommu_mm, and every other
 * thread's bind must find what it published.
 */
#define SVA_FRESH_THREADS	4
#define SVA_FRESH_ROUNDS	200

struct sva_fresh;

struct sva_fresh_worker {
	struct sva_fresh *fresh;
	struct device *dev;
	struct iommu_sva *handle;	/* of the current round, or an error */
	struct completion exited;
};

struct sva_fresh {
	wait_queue_head_t wq;
	struct mm_struct *mm;	/* of the current round */
	unsigned int step;	/* odd: every thread binds @mm; even: unbinds */
	bool stop;
	atomic_t done;		/* threads through the current step */
	atomic_t inside;
	atomic_t overlaps;
	struct sva_fresh_worker workers[SVA_FRESH_THREADS];
};

static int sva_fresh_fn(void *data)
{
	struct sva_fresh_worker *w = data;
	struct sva_fresh *fresh = w->fresh;
	unsigned int seen = 0;

	for (;;) {
		wait_event(fresh->wq,
			   READ_ONCE(fresh->step) != seen || READ_ONCE(fresh->stop));
		if (READ_ONCE(fresh->stop))
			break;
		/* Pairs with sva_fresh_step(): the round's mm is set. */
		seen = smp_load_acquire(&fresh->step);
		if (seen & 1) {
			if (sva_race_enter(&fresh->inside))
				atomic_inc(&fresh->overlaps);
			w->handle = iommu_sva_bind_device(w->dev, fresh->mm);
			atomic_dec(&fresh->inside);
		} else if (!IS_ERR_OR_NULL(w->handle)) {
			iommu_sva_unbind_device(w->handle);
			w->handle = NULL;
		}
		if (atomic_inc_return(&fresh->done) == SVA_FRESH_THREADS)
			wake_up_all(&fresh->wq);
	}
	complete(&w->exited);
	return 0;
}

/* Every thread takes the next step at once: false if one did not finish. */
static bool sva_fresh_step(struct sva_fresh *fresh)
{
	atomic_set(&fresh->done, 0);
	/* The round's mm and the reset count before the step, for the threads. */
	smp_store_release(&fresh->step, fresh->step + 1);
	wake_up_all(&fresh->wq);
	return wait_event_timeout(fresh->wq, atomic_read(&fresh->done) ==
				  SVA_FRESH_THREADS, SVA_RACE_TIMEOUT);
}

/* False if a thread is stuck: then @fresh must stay allocated. */
static bool sva_fresh_stop(struct sva_fresh *fresh, unsigned int started)
{
	unsigned int i;

	WRITE_ONCE(fresh->stop, true);
	wake_up_all(&fresh->wq);
	for (i = 0; i < started; i++)
		if (!wait_for_completion_timeout(&fresh->workers[i].exited,
						 SVA_RACE_TIMEOUT))
			return false;
	return true;
}

/*
 * After the threads' binds of a fresh mm: each succeeded, all on the one
 * PASID the mm was given (I1); the mm has one domain per set of devices
 * that can share one, whichever thread made it (I3), each with an mm_count
 * of its own (I2).
 */
static bool sva_fresh_check_bound(struct kunit *test, struct sva_fresh *fresh,
				  size_t want_domains, unsigned int round)
{
	struct iommu_domain *domains[SVA_FRESH_THREADS];
	struct mm_struct *mm = fresh->mm;
	unsigned int i, j, n = 0;
	bool ok = true;

	if (!mm->iommu_mm) {
		KUNIT_FAIL(test, "round %u: bound, but the mm has no iommu_mm",
			   round);
		return false;
	}
	for (i = 0; i < SVA_FRESH_THREADS; i++) {
		struct iommu_sva *handle = fresh->workers[i].handle;

		if (IS_ERR_OR_NULL(handle)) {
			KUNIT_FAIL(test, "round %u: thread %u: bind: %pe",
				   round, i, handle);
			ok = false;
			continue;
		}
		if (iommu_sva_get_pasid(handle) != mm->iommu_mm->pasid) {
			KUNIT_FAIL(test, "round %u: thread %u bound PASID %u, the mm has %u",
				   round, i, iommu_sva_get_pasid(handle),
				   mm->iommu_mm->pasid);
			ok = false;
		}
		for (j = 0; j < n && domains[j] != sva_domain(handle); j++)
			;
		if (j == n)
			domains[n++] = sva_domain(handle);
	}
	if (!ok)
		return false;
	if (n != want_domains || sva_nr_domains(mm) != want_domains ||
	    atomic_read(&mm->mm_count) != 1 + want_domains) {
		KUNIT_FAIL(test,
			   "round %u: %u domains among the handles, %zu on the mm, mm_count %d; want %zu, %zu and %zu",
			   round, n, sva_nr_domains(mm),
			   atomic_read(&mm->mm_count), want_domains,
			   want_domains, 1 + want_domains);
		return false;
	}
	return true;
}

/* Once every thread unbound: no domain left, the mm's PASID kept (I6). */
static bool sva_fresh_check_unbound(struct kunit *test,
				    struct sva_fresh *fresh, unsigned int round)
{
	struct mm_struct *mm = fresh->mm;
	unsigned int i, pasids = 0;

	for (i = 0; i < SVA_FRESH_THREADS; i++)
		pasids += fake_iommu_dev_pasids_set(fresh->workers[i].dev);
	if (!pasids && !sva_nr_domains(mm) && mm->iommu_mm &&
	    atomic_read(&mm->mm_count) == 1)
		return true;
	KUNIT_FAIL(test,
		   "round %u, all unbound: %u PASIDs still set, %zu domains, iommu_mm %s, mm_count %d (want 0, 0, kept, 1)",
		   round, pasids, sva_nr_domains(mm),
		   mm->iommu_mm ? "kept" : "gone", atomic_read(&mm->mm_count));
	return false;
}

/*
 * Four threads bind a fresh mm at once on devices of two instances, then
 * unbind it, round after round with a new mm each time. Exactly one
 * iommu_mm and one PASID may come of it, and one domain per set of devices
 * that can share one: one for all under share-any, one per instance under
 * share-own. When every round's mm is dropped, its PASID is free again
 * (the exit check). The threads must have overlapped: some bind started
 * while another thread was inside one.
 */
static void sva_test_race_fresh_mm(struct kunit *test)
{
	const enum fake_iommu_policy policy =
		*(const enum fake_iommu_policy *)test->param_value;
	const size_t want_domains = policy == FAKE_IOMMU_SHARE_ANY ? 1 : 2;
	unsigned long deadline = jiffies + SVA_RACE_BUDGET;
	unsigned int i, started, round = 0, overlaps;
	struct fake_iommu *iommus[2];
	struct sva_fresh *fresh;
	bool ok = true;

	sva_race_need_cpus(test);
	iommus[0] = sva_iommu(test, policy, FAKE_IOMMU_DRIVER_A);
	iommus[1] = sva_iommu(test, policy, FAKE_IOMMU_DRIVER_A);

	/* Not KUnit-managed: a thread that hangs still uses it. */
	fresh = kzalloc_obj(*fresh);
	KUNIT_ASSERT_NOT_NULL(test, fresh);
	init_waitqueue_head(&fresh->wq);
	for (i = 0; i < SVA_FRESH_THREADS; i++) {
		struct sva_fresh_worker *w = &fresh->workers[i];

		w->fresh = fresh;
		w->dev = fake_iommu_kunit_add_device(test, iommus[i % 2], NULL,
						     SVA_MAX_PASIDS);
		init_completion(&w->exited);
		if (IS_ERR(w->dev) || fake_iommu_dev_enable_sva(w->dev)) {
			kfree(fresh);
			KUNIT_FAIL(test, "could not add SVA device %u", i);
			return;
		}
	}
	for (started = 0; started < SVA_FRESH_THREADS; started++) {
		struct task_struct *task;

		task = kthread_run(sva_fresh_fn, &fresh->workers[started],
				   "sva-fresh-%u", started);
		if (IS_ERR(task)) {
			KUNIT_FAIL(test, "kthread_run: %pe", task);
			ok = false;
			break;
		}
	}

	while (ok && round < SVA_FRESH_ROUNDS &&
	       time_before(jiffies, deadline)) {
		struct mm_struct *mm = mm_alloc();

		if (!mm) {
			KUNIT_FAIL(test, "round %u: mm_alloc() failed", round);
			break;
		}
		fresh->mm = mm;
		if (!sva_fresh_step(fresh)) {
			KUNIT_FAIL(test, "round %u: a thread hangs in bind (%u s)",
				   round, SVA_RACE_TIMEOUT / HZ);
			/* Its bind may still use the mm. */
			return;
		}
		sva_note_pasid(test, mm);
		ok = sva_fresh_check_bound(test, fresh, want_domains, round);
		if (!sva_fresh_step(fresh)) {
			KUNIT_FAIL(test, "round %u: a thread hangs in unbind (%u s)",
				   round, SVA_RACE_TIMEOUT / HZ);
			return;
		}
		ok = sva_fresh_check_unbound(test, fresh, round) && ok;
		if (!ok)
			fake_iommu_log_dump(test);
		/* The mm goes, and with it its PASID (I1). */
		mmput(mm);
		round++;
	}
	if (!sva_fresh_stop(fresh, started)) {
		KUNIT_FAIL(test, "a thread did not stop within %u s",
			   SVA_RACE_TIMEOUT / HZ);
		return;
	}
	overlaps = atomic_read(&fresh->overlaps);
	kfree(fresh);
	kunit_info(test, "%u rounds: %u of %u binds of a fresh mm started while another thread was inside a bind\n",
		   round, overlaps, round * SVA_FRESH_THREADS);
	KUNIT_EXPECT_GT_MSG(test, overlaps, 0,
			    "the threads never overlapped: no bind started while another was inside one");
}

/* ---- iommu_sva_iopf: IO page faults on an SVA PASID ---- */

#define SVA_IOPF_PAGES		4
#define SVA_IOPF_TIMEOUT	(10 * HZ)

/*
 * An mm with a read-write and a read-only anonymous mapping and no page
 * in either, as a process that has not touched them yet.
 */
struct sva_iopf_mm {
	struct mm_struct *mm;
	unsigned long rw;
	unsigned long ro;
};

static void sva_iopf_mm(struct kunit *test, struct sva_iopf_mm *m)
{
	m->mm = sva_mm(test);
	m->rw = fake_iommu_mmap(m->mm, SVA_IOPF_PAGES * PAGE_SIZE,
				PROT_READ | PROT_WRITE);
	m->ro = fake_iommu_mmap(m->mm, PAGE_SIZE, PROT_READ);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(m->rw));
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(m->ro));
}

/* An address no mapping of an sva_iopf_mm() covers */
static unsigned long sva_iopf_unmapped(const struct sva_iopf_mm *m)
{
	return m->rw + SVA_IOPF_PAGES * PAGE_SIZE == m->ro ?
	       m->ro + PAGE_SIZE : m->rw + SVA_IOPF_PAGES * PAGE_SIZE;
}

static int sva_iopf_fault(struct device *dev, ioasid_t pasid,
			  unsigned long addr, u32 perm, u32 grpid, bool last)
{
	struct fake_iommu_page_req req = {
		.addr = addr,
		.pasid = pasid,
		.perm = perm,
		.grpid = grpid,
		.last = last,
	};

	return fake_iommu_report_page_req(dev, &req);
}

/*
 * Responses to group @grpid of the device named @name in the record (by
 * name: the device may be gone); the last one's code
 */
static unsigned int sva_iopf_responses(struct kunit *test, const char *name,
				       u32 grpid, int *code)
{
	const struct fake_iommu_call *c;
	unsigned int i, n = 0;

	for (i = 0; (c = fake_iommu_log_entry(test, i)); i++) {
		if (c->op != FAKE_OP_PAGE_RESPONSE || c->grpid != grpid ||
		    strcmp(c->dev, name))
			continue;
		*code = c->code;
		n++;
	}
	return n;
}

/*
 * Index of the first response to group @grpid of @dev, waited for up to
 * SVA_IOPF_TIMEOUT; -1 when none came.
 */
static int sva_iopf_wait_response(struct kunit *test, struct device *dev,
				  u32 grpid)
{
	unsigned long deadline = jiffies + SVA_IOPF_TIMEOUT;
	unsigned int from = 0;
	int i;

	do {
		i = fake_iommu_wait_call(test, FAKE_OP_PAGE_RESPONSE, dev, from,
					 max_t(long, deadline - jiffies, 1));
		if (i < 0 || fake_iommu_log_entry(test, i)->grpid == grpid)
			return i;
		from = i + 1;
	} while (time_before(jiffies, deadline));
	return -1;
}

/*
 * The core answered group @grpid of the device named @name exactly once,
 * with @want: a device waits for that one response, and a second one
 * would answer a later group that reuses the id.
 */
#define SVA_IOPF_EXPECT_ANSWER(test, name, grpid, want)			\
	do {								\
		struct kunit *__test = (test);				\
		int __code = -1, __want = (want);			\
		u32 __grpid = (grpid);					\
		unsigned int __n;					\
									\
		__n = sva_iopf_responses(__test, name, __grpid, &__code); \
		KUNIT_EXPECT_EQ_MSG(__test, __n, 1,			\
				    "responses to page request group %u", \
				    __grpid);				\
		KUNIT_EXPECT_EQ_MSG(__test, __code, __want,		\
				    "response code of group %u", __grpid); \
		if (__n != 1 || __code != __want)			\
			fake_iommu_log_dump(__test);			\
	} while (0)

struct sva_iopf_access {
	u32 perm;
	const char *desc;
};

static const struct sva_iopf_access sva_iopf_served_params[] = {
	{ IOMMU_FAULT_PERM_READ, "read" },
	{ IOMMU_FAULT_PERM_READ | IOMMU_FAULT_PERM_WRITE, "write" },
	{ IOMMU_FAULT_PERM_READ | IOMMU_FAULT_PERM_PRIV, "privileged read" },
};

KUNIT_ARRAY_PARAM_DESC(sva_iopf_served, sva_iopf_served_params, desc);

/*
 * A fault on a mapped address of a bound mm is served: the SVA handler
 * faults the page in, and the group gets one SUCCESS response on its
 * PASID.
 */
static void sva_iopf_test_fault_served(struct kunit *test)
{
	const struct sva_iopf_access *p = test->param_value;
	bool write = p->perm & IOMMU_FAULT_PERM_WRITE;
	struct sva_test_ctx *ctx = test->priv;
	struct sva_iopf_mm m;
	int i;

	sva_iopf_mm(test, &m);
	sva_bind(test, ctx->dev, m.mm);
	KUNIT_ASSERT_FALSE(test, fake_iommu_page_present(m.mm, m.rw, false));

	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(ctx->dev, sva_pasid(m.mm), m.rw,
						p->perm, 1, true));
	i = sva_iopf_wait_response(test, ctx->dev, 1);
	KUNIT_ASSERT_GE_MSG(test, i, 0, "no response within %u s",
			    SVA_IOPF_TIMEOUT / HZ);
	SVA_IOPF_EXPECT_ANSWER(test, dev_name(ctx->dev), 1, IOMMU_PAGE_RESP_SUCCESS);
	KUNIT_EXPECT_EQ(test, fake_iommu_log_entry(test, i)->pasid,
			sva_pasid(m.mm));
	KUNIT_EXPECT_TRUE_MSG(test, fake_iommu_page_present(m.mm, m.rw, write),
			      "the page is not %s after the fault",
			      write ? "mapped writable" : "present");
	KUNIT_EXPECT_FALSE(test,
			   fake_iommu_page_present(m.mm, m.rw + PAGE_SIZE, false));
}

enum sva_iopf_bad {
	SVA_IOPF_NO_VMA,
	SVA_IOPF_WRITE_RO,
	SVA_IOPF_EXEC_NX,
	SVA_IOPF_NO_PASID,
};

struct sva_iopf_bad_param {
	enum sva_iopf_bad bad;
	const char *desc;
};

static const struct sva_iopf_bad_param sva_iopf_bad_params[] = {
	{ SVA_IOPF_NO_VMA, "no mapping" },
	{ SVA_IOPF_WRITE_RO, "write to a read-only mapping" },
	{ SVA_IOPF_EXEC_NX, "exec in a non-exec mapping" },
	{ SVA_IOPF_NO_PASID, "request without a PASID" },
};

KUNIT_ARRAY_PARAM_DESC(sva_iopf_bad, sva_iopf_bad_params, desc);

/*
 * A request the mm does not allow gets one INVALID response and maps
 * nothing. One without a PASID never reaches the SVA handler: the core
 * answers it before it returns, as it has no handler for it.
 */
static void sva_iopf_test_fault_refused(struct kunit *test)
{
	const struct sva_iopf_bad_param *p = test->param_value;
	u32 perm = IOMMU_FAULT_PERM_READ;
	struct sva_test_ctx *ctx = test->priv;
	ioasid_t pasid;
	struct sva_iopf_mm m;
	unsigned long addr;
	int ret;

	sva_iopf_mm(test, &m);
	sva_bind(test, ctx->dev, m.mm);
	pasid = sva_pasid(m.mm);
	addr = m.rw;
	switch (p->bad) {
	case SVA_IOPF_NO_VMA:
		addr = sva_iopf_unmapped(&m);
		break;
	case SVA_IOPF_WRITE_RO:
		addr = m.ro;
		perm |= IOMMU_FAULT_PERM_WRITE;
		break;
	case SVA_IOPF_EXEC_NX:
		perm |= IOMMU_FAULT_PERM_EXEC;
		break;
	case SVA_IOPF_NO_PASID:
		pasid = IOMMU_NO_PASID;
		break;
	}

	ret = sva_iopf_fault(ctx->dev, pasid, addr, perm, 7, true);
	if (p->bad == SVA_IOPF_NO_PASID) {
		/* An error: the core answered the request itself. */
		KUNIT_EXPECT_LT(test, ret, 0);
		SVA_IOPF_EXPECT_ANSWER(test, dev_name(ctx->dev), 7,
				       IOMMU_PAGE_RESP_INVALID);
	} else {
		KUNIT_EXPECT_EQ(test, ret, 0);
		KUNIT_EXPECT_GE(test, sva_iopf_wait_response(test, ctx->dev, 7),
				0);
		SVA_IOPF_EXPECT_ANSWER(test, dev_name(ctx->dev), 7,
				       IOMMU_PAGE_RESP_INVALID);
	}
	KUNIT_EXPECT_FALSE(test, fake_iommu_page_present(m.mm, addr, false));
}

/*
 * A group of requests is answered once, after its last request, and
 * every page of it is served; a request of another group that came in
 * between waits for its own group.
 */
static void sva_iopf_test_group_served(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	const unsigned int n = SVA_IOPF_PAGES - 1;
	struct sva_iopf_mm m;
	unsigned int i;
	ioasid_t pasid;

	sva_iopf_mm(test, &m);
	sva_bind(test, ctx->dev, m.mm);
	pasid = sva_pasid(m.mm);

	for (i = 0; i < n; i++) {
		KUNIT_EXPECT_EQ(test, 0,
				sva_iopf_fault(ctx->dev, pasid, m.rw + i * PAGE_SIZE,
					       IOMMU_FAULT_PERM_WRITE, 3,
					       i == n - 1));
		/* Group 4 begins while group 3 is still open. */
		if (!i)
			KUNIT_EXPECT_EQ(test, 0,
					sva_iopf_fault(ctx->dev, pasid,
						       m.rw + n * PAGE_SIZE,
						       IOMMU_FAULT_PERM_WRITE, 4,
						       false));
		if (i < n - 1)
			KUNIT_EXPECT_EQ_MSG(test,
					    fake_iommu_log_count(test, FAKE_OP_PAGE_RESPONSE,
								 ctx->dev), 0,
					    "a response before the last request of the group");
	}
	KUNIT_ASSERT_GE(test, sva_iopf_wait_response(test, ctx->dev, 3), 0);
	SVA_IOPF_EXPECT_ANSWER(test, dev_name(ctx->dev), 3,
			       IOMMU_PAGE_RESP_SUCCESS);
	for (i = 0; i < n; i++)
		KUNIT_EXPECT_TRUE_MSG(test,
				      fake_iommu_page_present(m.mm,
							      m.rw + i * PAGE_SIZE,
							      true),
				      "page %u of the group not served", i);
	KUNIT_EXPECT_FALSE_MSG(test,
			       fake_iommu_page_present(m.mm, m.rw + n * PAGE_SIZE,
						       false),
			       "a request of another group was served with this one");

	/* Group 4's last request: now its first one is served too. */
	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(ctx->dev, pasid, m.ro,
						IOMMU_FAULT_PERM_READ, 4, true));
	KUNIT_ASSERT_GE(test, sva_iopf_wait_response(test, ctx->dev, 4), 0);
	SVA_IOPF_EXPECT_ANSWER(test, dev_name(ctx->dev), 4,
			       IOMMU_PAGE_RESP_SUCCESS);
	KUNIT_EXPECT_TRUE(test,
			  fake_iommu_page_present(m.mm, m.rw + n * PAGE_SIZE, true));
	KUNIT_EXPECT_TRUE(test, fake_iommu_page_present(m.mm, m.ro, false));
}

/*
 * An error in a group is sticky: the requests after it are not served,
 * and the whole group is answered INVALID.
 */
static void sva_iopf_test_group_error_sticky(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct sva_iopf_mm m;
	ioasid_t pasid;

	sva_iopf_mm(test, &m);
	sva_bind(test, ctx->dev, m.mm);
	pasid = sva_pasid(m.mm);

	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(ctx->dev, pasid, m.rw,
						IOMMU_FAULT_PERM_WRITE, 5,
						false));
	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(ctx->dev, pasid, m.ro,
						IOMMU_FAULT_PERM_WRITE, 5,
						false));
	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(ctx->dev, pasid,
						m.rw + PAGE_SIZE,
						IOMMU_FAULT_PERM_WRITE, 5,
						true));
	KUNIT_ASSERT_GE(test, sva_iopf_wait_response(test, ctx->dev, 5), 0);
	SVA_IOPF_EXPECT_ANSWER(test, dev_name(ctx->dev), 5, IOMMU_PAGE_RESP_INVALID);
	KUNIT_EXPECT_TRUE_MSG(test, fake_iommu_page_present(m.mm, m.rw, true),
			      "the request before the error was not served");
	KUNIT_EXPECT_FALSE_MSG(test,
			       fake_iommu_page_present(m.mm, m.rw + PAGE_SIZE,
						       false),
			       "a request after the error was served");
}

/*
 * The process exited, but the bond keeps its mm_struct (mm_count), and
 * with it the PASID: a fault on it finds no address space to serve
 * (mmget_not_zero() fails) and is answered INVALID, without touching the
 * freed page tables.
 */
static void sva_iopf_test_fault_after_exit(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct sva_iopf_mm m;
	ioasid_t pasid;

	sva_iopf_mm(test, &m);
	sva_mm_hold(test, m.mm);
	sva_bind(test, ctx->dev, m.mm);
	pasid = sva_pasid(m.mm);
	sva_mm_exit(test, m.mm);
	KUNIT_ASSERT_EQ(test, atomic_read(&m.mm->mm_users), 0);

	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(ctx->dev, pasid, m.rw,
						IOMMU_FAULT_PERM_WRITE, 9,
						true));
	KUNIT_ASSERT_GE(test, sva_iopf_wait_response(test, ctx->dev, 9), 0);
	SVA_IOPF_EXPECT_ANSWER(test, dev_name(ctx->dev), 9, IOMMU_PAGE_RESP_INVALID);
	KUNIT_EXPECT_EQ(test, atomic_read(&m.mm->mm_users), 0);
	KUNIT_EXPECT_EQ(test, sva_pasid(m.mm), pasid);
	KUNIT_EXPECT_FALSE_MSG(test, sva_pasid_free(ctx->dev, pasid),
			       "the PASID was freed before __mmdrop() (I1)");
}

static const bool sva_iopf_was_bound[] = { true, false };

static void sva_iopf_was_bound_desc(const bool *was_bound, char *desc)
{
	strscpy(desc, *was_bound ? "after the last unbind" :
		"never attached", KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(sva_iopf_was_bound, sva_iopf_was_bound,
		  sva_iopf_was_bound_desc);

/*
 * A PASID with nothing attached has no fault handler: the core answers
 * the request itself, INVALID, before it returns, and no SVA handler
 * runs for it, whether the PASID had an mm before or never had one.
 */
static void sva_iopf_test_fault_no_domain(struct kunit *test)
{
	bool was_bound = *(const bool *)test->param_value;
	struct sva_test_ctx *ctx = test->priv;
	struct sva_iopf_mm m;
	ioasid_t pasid;

	sva_iopf_mm(test, &m);
	if (was_bound) {
		sva_unbind(test, sva_bind(test, ctx->dev, m.mm));
		pasid = sva_pasid(m.mm);
	} else {
		pasid = iommu_alloc_global_pasid(ctx->dev);
		KUNIT_ASSERT_NE(test, pasid, IOMMU_PASID_INVALID);
		KUNIT_ASSERT_EQ(test, 0,
				kunit_add_action_or_reset(test, sva_pasid_free_action,
							  (void *)(uintptr_t)pasid));
	}

	/* An error: the core answered the request itself. */
	KUNIT_EXPECT_LT(test, sva_iopf_fault(ctx->dev, pasid, m.rw,
					     IOMMU_FAULT_PERM_WRITE, 11, true),
			0);
	SVA_IOPF_EXPECT_ANSWER(test, dev_name(ctx->dev), 11, IOMMU_PAGE_RESP_INVALID);
	KUNIT_EXPECT_FALSE(test, fake_iommu_page_present(m.mm, m.rw, false));
}

/* Wait until a fault handler waits for @mm's mmap lock, which we hold. */
static bool sva_iopf_wait_handler_blocked(struct mm_struct *mm)
{
	unsigned long deadline = jiffies + SVA_IOPF_TIMEOUT;

	while (!mmap_lock_is_contended(mm)) {
		if (time_after(jiffies, deadline))
			return false;
		schedule_timeout_uninterruptible(1);
	}
	return true;
}

/* A thread that unbinds a handle, or unplugs a device, behind a fault */
struct sva_iopf_unbinder {
	struct iommu_sva *handle;
	struct device *unplug;	/* when there is no @handle */
	struct completion done;
	/*
	 * The test gave up waiting: it may be gone, with what @test points
	 * to. Set, and read, under @lock.
	 */
	spinlock_t lock;
	bool abandoned;
	struct kunit *test;
	/* The length of the call record when the call returned */
	unsigned int log_len;
};

static int sva_iopf_unbind_fn(void *data)
{
	struct sva_iopf_unbinder *u = data;

	if (u->handle)
		iommu_sva_unbind_device(u->handle);
	else
		fake_iommu_remove_device(u->unplug);
	spin_lock(&u->lock);
	if (!u->abandoned)
		u->log_len = fake_iommu_log_len(u->test);
	spin_unlock(&u->lock);
	complete(&u->done);
	return 0;
}

/*
 * With the SVA handler inside a fault of @mm on @dev (it waits for the
 * mmap lock, which the test holds), unbind @handle, or unplug @dev when
 * there is none, from another thread: the IOMMU driver drains @dev's page
 * requests, and the call must still be waiting 100 ms later. Then release
 * the lock, and wait for the call to return.
 *
 * Return: the thread's account, which the caller frees; NULL when the
 * thread could not start, or hangs (the test failed then).
 */
static struct sva_iopf_unbinder *
sva_iopf_unbind_behind_fault(struct kunit *test, struct mm_struct *mm,
			     struct device *dev, struct iommu_sva *handle)
{
	const char *what = handle ? "unbind" : "unplug";
	struct sva_iopf_unbinder *u;
	struct task_struct *task;
	int drain;
	bool early;

	/* Not KUnit-managed: a thread that hangs still uses it. */
	u = kzalloc_obj(*u);
	if (!u) {
		mmap_write_unlock(mm);
		if (handle)
			iommu_sva_unbind_device(handle);
		else
			fake_iommu_remove_device(dev);
		KUNIT_FAIL(test, "out of memory");
		return NULL;
	}
	*u = (struct sva_iopf_unbinder) {
		.handle = handle, .unplug = dev, .test = test,
	};
	init_completion(&u->done);
	spin_lock_init(&u->lock);
	task = kthread_run(sva_iopf_unbind_fn, u, "sva-iopf-%s", what);
	if (IS_ERR(task)) {
		mmap_write_unlock(mm);
		sva_iopf_unbind_fn(u);
		kfree(u);
		KUNIT_FAIL(test, "kthread_run: %pe", task);
		return NULL;
	}
	/* An unplug that does not wait must not free @dev under the wait. */
	get_device(dev);
	drain = fake_iommu_wait_call(test, FAKE_OP_IOPF_DRAIN, dev, 0,
				     SVA_IOPF_TIMEOUT);
	/* A guard: the call must still be waiting for the handler. */
	early = wait_for_completion_timeout(&u->done, HZ / 10);
	mmap_write_unlock(mm);
	put_device(dev);
	KUNIT_EXPECT_GE_MSG(test, drain, 0,
			    "the driver never drained the device's faults");
	KUNIT_EXPECT_FALSE_MSG(test, early,
			       "%s returned while the fault was in flight", what);
	if (!wait_for_completion_timeout(&u->done, SVA_IOPF_TIMEOUT)) {
		spin_lock(&u->lock);
		u->abandoned = true;
		spin_unlock(&u->lock);
		KUNIT_FAIL(test, "%s hangs (%u s)", what, SVA_IOPF_TIMEOUT / HZ);
		return NULL;
	}
	return u;
}

/*
 * Unbind while the SVA handler is inside a fault of the mm: unbind
 * returns only once the fault was answered, exactly once, before the
 * domain is freed. A fault on the PASID once it belongs to the next mm is
 * that mm's, and no fault of the first one follows.
 */
static void sva_iopf_test_unbind_waits_for_fault(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	const char *name = dev_name(ctx->dev);
	struct sva_iopf_unbinder *u;
	struct mm_struct *next;
	struct iommu_sva *handle;
	struct sva_iopf_mm m;
	int resp, freed, code;
	ioasid_t pasid;

	sva_iopf_mm(test, &m);
	handle = sva_bind(test, ctx->dev, m.mm);
	pasid = sva_pasid(m.mm);

	mmap_write_lock(m.mm);
	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(ctx->dev, pasid, m.rw,
						IOMMU_FAULT_PERM_WRITE, 13,
						true));
	if (!sva_iopf_wait_handler_blocked(m.mm)) {
		mmap_write_unlock(m.mm);
		KUNIT_FAIL(test, "the fault handler never waited for the mmap lock");
		return;
	}
	kunit_remove_action(test, sva_unbind_action, handle);
	u = sva_iopf_unbind_behind_fault(test, m.mm, ctx->dev, handle);
	if (!u)
		return;

	SVA_IOPF_EXPECT_ANSWER(test, name, 13, IOMMU_PAGE_RESP_SUCCESS);
	resp = fake_iommu_log_find(test, FAKE_OP_PAGE_RESPONSE, ctx->dev, 0);
	freed = fake_iommu_log_find(test, FAKE_OP_DOMAIN_FREE, NULL, 0);
	KUNIT_EXPECT_TRUE_MSG(test, resp >= 0 && resp < freed &&
			      resp < u->log_len,
			      "response #%d, domain freed #%d, unbind returned at #%u",
			      resp, freed, u->log_len);
	if (resp < 0 || resp >= freed || resp >= u->log_len)
		fake_iommu_log_dump(test);
	kfree(u);
	KUNIT_EXPECT_TRUE(test, fake_iommu_page_present(m.mm, m.rw, true));

	/* The PASID goes to another mm, which has no mapping there. */
	sva_mm_exit(test, m.mm);
	KUNIT_ASSERT_TRUE_MSG(test, sva_pasid_free(ctx->dev, pasid),
			      "the PASID outlived its mm (I1)");
	sva_take_pasids_but(test, ctx->dev, pasid);
	next = sva_mm(test);
	sva_bind(test, ctx->dev, next);
	KUNIT_ASSERT_EQ(test, sva_pasid(next), pasid);
	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(ctx->dev, pasid, m.rw,
						IOMMU_FAULT_PERM_WRITE, 14,
						true));
	KUNIT_ASSERT_GE(test, sva_iopf_wait_response(test, ctx->dev, 14), 0);
	SVA_IOPF_EXPECT_ANSWER(test, name, 14, IOMMU_PAGE_RESP_INVALID);
	KUNIT_EXPECT_EQ(test, 1, sva_iopf_responses(test, name, 13, &code));
}

/*
 * One device of a group is unplugged while the SVA handler is inside a
 * fault it reported. Its driver let its reference to the bond go first,
 * but the bond stays for the group's other device, so the domain is set on
 * the leaving device's PASID: the IOMMU driver's release path drains its
 * page requests first, and stops using the domain. The unplug returns
 * only once the fault was answered, exactly once; the domain lives on,
 * and serves the other device's faults.
 */
static void sva_iopf_test_unplug_during_fault(struct kunit *test)
{
	struct fake_iommu_group *group = fake_iommu_kunit_group(test);
	struct sva_test_ctx *ctx = test->priv;
	struct device *stay, *leave;
	struct sva_iopf_unbinder *u;
	struct iommu_sva *handle;
	struct sva_iopf_mm m;
	int resp, released;
	ioasid_t pasid;
	char name[32];

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	stay = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	leave = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	strscpy(name, dev_name(leave));
	ctx->member_left = true;
	sva_iopf_mm(test, &m);
	sva_bind(test, stay, m.mm);
	pasid = sva_pasid(m.mm);
	/* The second device's driver binds the mm too: the group's handle. */
	handle = iommu_sva_bind_device(leave, m.mm);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, handle);
	/* Its driver goes: it unbinds, then its device is unplugged. */
	iommu_sva_unbind_device(handle);
	KUNIT_EXPECT_EQ(test, fake_iommu_log_count(test, FAKE_OP_REMOVE_DEV_PASID,
						   NULL), 0);

	mmap_write_lock(m.mm);
	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(leave, pasid, m.rw,
						IOMMU_FAULT_PERM_WRITE, 30,
						true));
	if (!sva_iopf_wait_handler_blocked(m.mm)) {
		mmap_write_unlock(m.mm);
		KUNIT_FAIL(test, "the fault handler never waited for the mmap lock");
		return;
	}
	fake_iommu_kunit_disown_device(test, leave);
	u = sva_iopf_unbind_behind_fault(test, m.mm, leave, NULL);
	if (!u)
		return;

	SVA_IOPF_EXPECT_ANSWER(test, name, 30, IOMMU_PAGE_RESP_SUCCESS);
	resp = fake_iommu_log_find(test, FAKE_OP_PAGE_RESPONSE, NULL, 0);
	released = fake_iommu_log_find(test, FAKE_OP_RELEASE_DEVICE, NULL, 0);
	KUNIT_EXPECT_TRUE_MSG(test, resp >= 0 && resp < released,
			      "response #%d, release_device #%d", resp, released);
	if (resp < 0 || resp >= released)
		fake_iommu_log_dump(test);
	kfree(u);
	KUNIT_EXPECT_TRUE(test, fake_iommu_page_present(m.mm, m.rw, true));
	KUNIT_EXPECT_EQ(test, fake_iommu_log_count(test, FAKE_OP_DOMAIN_FREE,
						   NULL), 0);

	/* The other device still faults through the same domain. */
	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(stay, pasid, m.rw + PAGE_SIZE,
						IOMMU_FAULT_PERM_WRITE, 31,
						true));
	KUNIT_ASSERT_GE(test, sva_iopf_wait_response(test, stay, 31), 0);
	SVA_IOPF_EXPECT_ANSWER(test, dev_name(stay), 31,
			       IOMMU_PAGE_RESP_SUCCESS);
	KUNIT_EXPECT_TRUE(test,
			  fake_iommu_page_present(m.mm, m.rw + PAGE_SIZE, true));
}

/*
 * The process exits while the SVA handler is inside its fault: the
 * handler's own reference (mmget_not_zero()) keeps the address space
 * until the fault is served, and its mmput() is the last one. The fault
 * is answered once, and the PASID stays with the bond.
 */
static void sva_iopf_test_exit_during_fault(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	bool blocked, handler_user;
	struct sva_iopf_mm m;
	ioasid_t pasid;

	sva_iopf_mm(test, &m);
	sva_mm_hold(test, m.mm);
	sva_bind(test, ctx->dev, m.mm);
	pasid = sva_pasid(m.mm);

	mmap_write_lock(m.mm);
	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(ctx->dev, pasid, m.rw,
						IOMMU_FAULT_PERM_WRITE, 17,
						true));
	blocked = sva_iopf_wait_handler_blocked(m.mm);
	/*
	 * The handler must hold a user of its own by now; else the exit
	 * below would be the last mmput(), and tear the address space down
	 * under the lock this thread holds.
	 */
	handler_user = atomic_read(&m.mm->mm_users) >= 2;
	if (!blocked || !handler_user)
		mmap_write_unlock(m.mm);
	KUNIT_ASSERT_TRUE_MSG(test, blocked,
			      "the fault handler never waited for the mmap lock");
	KUNIT_ASSERT_TRUE_MSG(test, handler_user,
			      "the fault handler waits for the mm without a user of its own");
	sva_mm_exit(test, m.mm);
	KUNIT_EXPECT_EQ(test, atomic_read(&m.mm->mm_users), 1);
	mmap_write_unlock(m.mm);

	KUNIT_ASSERT_GE(test, sva_iopf_wait_response(test, ctx->dev, 17), 0);
	SVA_IOPF_EXPECT_ANSWER(test, dev_name(ctx->dev), 17, IOMMU_PAGE_RESP_SUCCESS);
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&m.mm->mm_users), 0,
			    "the fault handler kept the address space");
	KUNIT_EXPECT_EQ(test, sva_pasid(m.mm), pasid);
	KUNIT_EXPECT_FALSE(test, sva_pasid_free(ctx->dev, pasid));
}

/* A fault handler that keeps every group pending, as iommufd's does */
static int sva_iopf_keep_handler(struct iopf_group *group)
{
	return 0;
}

/*
 * Groups a handler keeps pending when the device leaves its fault queue
 * are answered INVALID, each once, and freed: kmemleak, in the last
 * suite, finds any that were not. The request of a group that never got
 * its last one needs no answer. Where the IOMMU driver counts
 * fault-capable domains (7.x), the device leaves the queue when the last
 * one is detached; where its driver enabled IOMMU_DEV_FEAT_IOPF (6.12),
 * when it is unplugged.
 */
static void sva_iopf_test_remove_answers_pending(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct device *dev = sva_dev(test, ctx->iommu, NULL, SVA_MAX_PASIDS);
	struct iommu_attach_handle *attach;
	struct iommu_domain *paging;
	char name[32];
	unsigned int grp;
	ioasid_t pasid;
	int code;

	paging = sva_paging_domain(test, dev);
	paging->iopf_handler = sva_iopf_keep_handler;
	attach = kunit_kzalloc(test, sizeof(*attach), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, attach);
	pasid = sva_global_pasid(test, dev);
	KUNIT_ASSERT_EQ(test, 0,
			iommu_attach_device_pasid(paging, dev, pasid, attach));

	for (grp = 20; grp < 23; grp++)
		KUNIT_EXPECT_EQ(test, 0,
				sva_iopf_fault(dev, pasid, 0x10000 + grp * PAGE_SIZE,
					       IOMMU_FAULT_PERM_READ, grp, true));
	/* A request of a fourth group that never got its last one */
	KUNIT_EXPECT_EQ(test, 0, sva_iopf_fault(dev, pasid, 0x20000,
						IOMMU_FAULT_PERM_READ, 23,
						false));
	KUNIT_EXPECT_EQ(test, fake_iommu_log_count(test, FAKE_OP_PAGE_RESPONSE,
						   dev), 0);

	strscpy(name, dev_name(dev));
	iommu_detach_device_pasid(paging, dev, pasid);
	fake_iommu_kunit_remove_device(test, dev);
	for (grp = 20; grp < 24; grp++)
		KUNIT_EXPECT_EQ_MSG(test, sva_iopf_responses(test, name, grp, &code),
				    grp < 23, "responses to group %u", grp);
	for (grp = 20; grp < 23; grp++)
		SVA_IOPF_EXPECT_ANSWER(test, name, grp, IOMMU_PAGE_RESP_INVALID);
}

/* Skips @test where the device's driver enables IO page faults itself. */
static void sva_iopf_need_per_domain(struct kunit *test)
{
#ifdef FAKE_IOMMU_HAS_DEV_FEAT_IOPF
	kunit_skip(test,
		   "this kernel's drivers enable IO page faults per device (IOMMU_DEV_FEAT_IOPF), not per domain");
#endif
}

#define SVA_IOPF_MMS	3

/*
 * Where the IOMMU driver enables IO page faults itself, it does so before
 * the first fault-capable domain is set on a PASID of the device, and
 * disables them when the last one goes, whatever the binds and unbinds
 * in between: a count out of balance WARNs in real drivers (VT-d's
 * 534b5f98ab73) or leaves the device taking faults nobody handles. Here,
 * several mms on one device: one enable, one drain per PASID, one disable.
 */
static void sva_iopf_test_enable_balanced_mms(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct iommu_sva *handles[SVA_IOPF_MMS];
	const struct fake_iommu_call *set;
	unsigned int i;
	int first;

	sva_iopf_need_per_domain(test);
	for (i = 0; i < SVA_IOPF_MMS; i++) {
		handles[i] = sva_bind(test, ctx->dev, sva_mm(test));
		KUNIT_EXPECT_EQ(test, fake_iommu_dev_iopf_users(ctx->dev), i + 1);
	}
	first = fake_iommu_log_find(test, FAKE_OP_SET_DEV_PASID, ctx->dev, 0);
	set = first >= 0 ? fake_iommu_log_entry(test, first) : NULL;
	KUNIT_EXPECT_TRUE_MSG(test, set && set->iopf_queued,
			      "the first fault-capable domain was set before the device was in its fault queue");
	for (i = 0; i < SVA_IOPF_MMS; i++) {
		sva_unbind(test, handles[i]);
		KUNIT_EXPECT_EQ(test, fake_iommu_dev_iopf_users(ctx->dev),
				SVA_IOPF_MMS - 1 - i);
	}
	SVA_EXPECT_CALLS(test, FAKE_OP_IOPF_ENABLE, ctx->dev, 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_IOPF_DISABLE, ctx->dev, 1);
	SVA_EXPECT_CALLS(test, FAKE_OP_IOPF_DRAIN, ctx->dev, SVA_IOPF_MMS);
}

/*
 * A bind into a group of three devices that one member refuses: every
 * device whose PASID the core set and undid again is back out of the
 * fault queue, and a later bind and unbind of the group balance too.
 */
static void sva_iopf_test_enable_balanced_group(struct kunit *test)
{
	unsigned int failing = *(const unsigned int *)test->param_value;
	struct sva_test_ctx *ctx = test->priv;
	struct fake_iommu_group *group;
	struct mm_struct *mm = sva_mm(test);
	struct device *devs[3];
	struct iommu_sva *err;
	unsigned int i;

	sva_iopf_need_per_domain(test);
	group = fake_iommu_kunit_group(test);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	for (i = 0; i < ARRAY_SIZE(devs); i++)
		devs[i] = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	fake_iommu_dev_inject_fault(devs[failing], FAKE_FAULT_SET_DEV_PASID, 1,
				    -EIO);

	err = iommu_sva_bind_device(devs[0], mm);
	sva_note_pasid(test, mm);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(err), -EIO);
	for (i = 0; i < ARRAY_SIZE(devs); i++) {
		KUNIT_EXPECT_EQ_MSG(test, fake_iommu_dev_iopf_users(devs[i]), 0,
				    "device %u after the failed bind", i);
		KUNIT_EXPECT_EQ_MSG(test,
				    fake_iommu_log_count(test, FAKE_OP_IOPF_ENABLE,
							 devs[i]),
				    fake_iommu_log_count(test, FAKE_OP_IOPF_DISABLE,
							 devs[i]),
				    "device %u: IO page faults enabled and disabled", i);
	}

	sva_unbind(test, sva_bind(test, devs[0], mm));
	for (i = 0; i < ARRAY_SIZE(devs); i++) {
		KUNIT_EXPECT_EQ(test, fake_iommu_dev_iopf_users(devs[i]), 0);
		KUNIT_EXPECT_EQ_MSG(test,
				    fake_iommu_log_count(test, FAKE_OP_IOPF_ENABLE,
							 devs[i]),
				    fake_iommu_log_count(test, FAKE_OP_IOPF_DISABLE,
							 devs[i]),
				    "device %u: IO page faults enabled and disabled", i);
	}
}

/* ---- iommu_sva_device: devices that come and go, replace and attach ---- */

static bool sva_core_bugs;
module_param_named(core_bugs, sva_core_bugs, bool, 0644);
MODULE_PARM_DESC(core_bugs,
		 "run the cases that show bugs of the IOMMU core: they fail, and may crash the kernel");

/*
 * A case that shows a bug of the core runs only when asked for: it fails,
 * and may take the kernel down with it.
 */
static void sva_need_core_bugs(struct kunit *test, const char *bug)
{
	if (!sva_core_bugs)
		kunit_skip(test, "shows a core bug (%s): set iommu_sva_test.core_bugs=1 to run it",
			   bug);
}

/* Calls @op for @dev (NULL: any) in the record from entry @from on */
static unsigned int sva_calls_since(struct kunit *test, enum fake_iommu_op op,
				    struct device *dev, unsigned int from)
{
	unsigned int n = 0;
	int i = from;

	while ((i = fake_iommu_log_find(test, op, dev, i)) >= 0) {
		n++;
		i++;
	}
	return n;
}

/*
 * A device whose driver unbinds every handle and then goes: the IOMMU
 * driver's release_device() finds no PASID set, the domains went with the
 * last unbinds, and each mm's PASID is free at its __mmdrop()
 * (I1, I6, I12).
 */
static void sva_device_test_unbind_then_unplug(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct device *dev = sva_dev(test, ctx->iommu, NULL, SVA_MAX_PASIDS);
	struct mm_struct *mm1 = sva_mm(test), *mm2 = sva_mm(test);
	int live = fake_iommu_live_domains(test);
	struct iommu_sva *h1, *h2;
	ioasid_t pasid1, pasid2;
	int released;

	h1 = sva_bind(test, dev, mm1);
	h2 = sva_bind(test, dev, mm2);
	pasid1 = sva_pasid(mm1);
	pasid2 = sva_pasid(mm2);
	sva_unbind(test, h1);
	sva_unbind(test, h2);
	fake_iommu_kunit_remove_device(test, dev);

	released = fake_iommu_log_find(test, FAKE_OP_RELEASE_DEVICE, NULL, 0);
	KUNIT_ASSERT_GE(test, released, 0);
	KUNIT_EXPECT_EQ_MSG(test, fake_iommu_log_entry(test, released)->ret, 0,
			    "release_device() found a PASID still set");
	SVA_EXPECT_CALLS(test, FAKE_OP_RELEASE_PASID, NULL, 0);
	KUNIT_EXPECT_EQ(test, fake_iommu_live_domains(test), live);
	sva_mm_exit(test, mm1);
	sva_mm_exit(test, mm2);
	KUNIT_EXPECT_TRUE(test, sva_pasid_free(ctx->dev, pasid1));
	KUNIT_EXPECT_TRUE(test, sva_pasid_free(ctx->dev, pasid2));
}

/*
 * An instance is unregistered after its devices went, while an mm bound
 * through them stays bound on another instance: nothing of the instance
 * is left, the other bond is untouched, and the PASID is free at the
 * mm's __mmdrop() (I1, I6).
 */
static void sva_device_test_instance_gone(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct fake_iommu *iommu = sva_iommu(test, FAKE_IOMMU_SHARE_OWN,
					     FAKE_IOMMU_DRIVER_B);
	struct device *a = sva_dev(test, iommu, NULL, SVA_MAX_PASIDS);
	struct device *b = sva_dev(test, iommu, NULL, SVA_MAX_PASIDS);
	struct mm_struct *mm = sva_mm(test);
	int base = atomic_read(&mm->mm_count);
	int live = fake_iommu_live_domains(test);
	struct iommu_sva *kept;
	ioasid_t pasid;

	kept = sva_bind(test, ctx->dev, mm);
	pasid = sva_pasid(mm);
	sva_unbind(test, sva_bind(test, a, mm));
	sva_unbind(test, sva_bind(test, b, mm));
	fake_iommu_kunit_remove_device(test, a);
	fake_iommu_kunit_remove_device(test, b);
	fake_iommu_kunit_destroy(test, iommu);

	SVA_EXPECT_CALLS(test, FAKE_OP_RELEASE_PASID, NULL, 0);
	KUNIT_EXPECT_EQ(test, sva_pasid(mm), pasid);
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(ctx->dev, pasid));
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 1);
	sva_unbind(test, kept);
	KUNIT_EXPECT_EQ(test, fake_iommu_live_domains(test), live);
	SVA_EXPECT_MM_COUNT(test, mm, base);
	sva_mm_exit(test, mm);
	KUNIT_EXPECT_TRUE(test, sva_pasid_free(ctx->dev, pasid));
}

/*
 * One device of a group goes while the group's bond stays for the other.
 * Its driver let its reference go; the handle, made through the other
 * device, stays. The PASID is stopped on the leaving device exactly once
 * (by the core, or by the IOMMU driver's release_device(), as the core
 * requires of it), the domain lives on, and the other device's unbind
 * then detaches that device alone and frees the domain (I5, I12, I13).
 */
static void sva_device_test_member_unplugged(struct kunit *test)
{
	struct fake_iommu_group *group = fake_iommu_kunit_group(test);
	struct sva_test_ctx *ctx = test->priv;
	struct iommu_sva *handle, *again;
	struct device *stay, *leave;
	struct mm_struct *mm = sva_mm(test);
	unsigned int from;
	ioasid_t pasid;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	stay = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	leave = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	ctx->member_left = true;
	handle = sva_bind(test, stay, mm);
	pasid = sva_pasid(mm);
	again = iommu_sva_bind_device(leave, mm);
	KUNIT_EXPECT_PTR_EQ(test, again, handle);
	if (!IS_ERR_OR_NULL(again))
		iommu_sva_unbind_device(again);

	from = fake_iommu_log_len(test);
	fake_iommu_kunit_remove_device(test, leave);
	KUNIT_EXPECT_EQ_MSG(test,
			    sva_calls_since(test, FAKE_OP_RELEASE_PASID, NULL, from) +
			    sva_calls_since(test, FAKE_OP_REMOVE_DEV_PASID, NULL, from),
			    1, "the PASID stopped on the device that went");
	KUNIT_EXPECT_EQ(test, sva_calls_since(test, FAKE_OP_DOMAIN_FREE, NULL,
					      from), 0);
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(stay, pasid));

	from = fake_iommu_log_len(test);
	sva_unbind(test, handle);
	KUNIT_EXPECT_EQ(test, sva_calls_since(test, FAKE_OP_REMOVE_DEV_PASID,
					      stay, from), 1);
	KUNIT_EXPECT_EQ(test, sva_calls_since(test, FAKE_OP_REMOVE_DEV_PASID,
					      NULL, from), 1);
	KUNIT_EXPECT_EQ(test, sva_calls_since(test, FAKE_OP_DOMAIN_FREE, NULL,
					      from), 1);
	if (fake_iommu_dev_pasids_set(stay))
		fake_iommu_log_dump(test);
}

/*
 * A device joins a group that has an SVA domain on a PASID (a hot-plugged
 * function behind a bridge without ACS). One attachment per group and
 * PASID means: the newcomer is programmed with it, or the join is refused;
 * either way the group's last unbind takes the PASID off only devices
 * that had it. A core that lets the device in without the PASID, then
 * asks its driver to take off a PASID it never had, breaks that.
 */
static void sva_device_test_join_bound_group(struct kunit *test)
{
	struct fake_iommu_group *group = fake_iommu_kunit_group(test);
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm = sva_mm(test);
	struct iommu_sva *handle, *again;
	struct device *first, *late;
	ioasid_t pasid;

	sva_need_core_bugs(test, "a device joins a group without its PASIDs");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	first = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	handle = sva_bind(test, first, mm);
	pasid = sva_pasid(mm);
	late = fake_iommu_kunit_add_device(test, ctx->iommu, group,
					   SVA_MAX_PASIDS);
	if (IS_ERR(late)) {
		kunit_info(test, "the core refused the device: %pe\n", late);
		KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(first, pasid));
		return;
	}
	KUNIT_EXPECT_EQ(test, 0, fake_iommu_dev_enable_sva(late));
	KUNIT_EXPECT_TRUE_MSG(test, fake_iommu_dev_pasid_set(late, pasid),
			      "the device joined the group without its PASID %u",
			      pasid);
	again = iommu_sva_bind_device(late, mm);
	KUNIT_EXPECT_PTR_EQ(test, again, handle);
	if (!IS_ERR_OR_NULL(again))
		iommu_sva_unbind_device(again);
	sva_unbind(test, handle);
	KUNIT_EXPECT_EQ(test, fake_iommu_violations(test), 0);
}

/*
 * The misuse: a device goes while a handle bound through it is live, and
 * the handle is unbound afterwards. Either the core refuses the unbind of
 * a handle whose device is gone, or release stops the bond; the domain is
 * freed, the PASID free at __mmdrop(), and nothing touches the freed
 * device.
 */
static void sva_device_test_unplug_bound(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm = sva_mm(test);
	int live = fake_iommu_live_domains(test);
	struct iommu_sva *handle;
	struct device *dev;

	sva_need_core_bugs(test, "unbind after the device went: use-after-free");
	dev = sva_dev(test, ctx->iommu, NULL, SVA_MAX_PASIDS);
	handle = iommu_sva_bind_device(dev, mm);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, handle);
	sva_note_pasid(test, mm);
	fake_iommu_kunit_remove_device(test, dev);
	iommu_sva_unbind_device(handle);
	KUNIT_EXPECT_EQ(test, fake_iommu_live_domains(test), live);
}

#ifdef FAKE_IOMMU_HAS_REPLACE_DEVICE_PASID
struct sva_replace_param {
	const char *desc;
	int failing;	/* the member whose set_dev_pasid fails, or -1 */
	bool same;	/* to the domain already there */
	bool empty;	/* on a PASID with nothing attached */
};

static const struct sva_replace_param sva_replace_params[] = {
	{ "to another domain", -1 },
	{ "member 0 refuses", 0 },
	{ "member 1 refuses", 1 },
	{ "member 2 refuses", 2 },
	{ "to the same domain", -1, true },
	{ "on a PASID with nothing attached", -1, false, true },
};

KUNIT_ARRAY_PARAM_DESC(sva_replace, sva_replace_params, desc);

/*
 * iommu_replace_device_pasid() on a three-device group, with paging
 * domains (iommufd's path; SVA does not replace). It succeeds with the
 * new domain on every device and the new handle in the group; it fails
 * with the old domain left working on every device and the old handle in
 * place, whichever device refused; to the same domain it swaps the handle
 * and leaves the domain on every device; on a PASID with nothing attached
 * it refuses, without a driver call (I8, I12, I13).
 */
static void sva_device_test_replace(struct kunit *test)
{
	const struct sva_replace_param *p = test->param_value;
	struct fake_iommu_group *group = fake_iommu_kunit_group(test);
	struct iommu_attach_handle *old_handle, *new_handle, *want;
	struct sva_test_ctx *ctx = test->priv;
	struct iommu_domain *old, *new, *cur;
	struct device *devs[3];
	unsigned int from, i;
	ioasid_t pasid;
	int ret;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, group);
	for (i = 0; i < ARRAY_SIZE(devs); i++)
		devs[i] = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	old = sva_paging_domain(test, devs[0]);
	new = p->same ? old : sva_paging_domain(test, devs[0]);
	old_handle = kunit_kzalloc(test, sizeof(*old_handle), GFP_KERNEL);
	new_handle = kunit_kzalloc(test, sizeof(*new_handle), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, old_handle);
	KUNIT_ASSERT_NOT_NULL(test, new_handle);
	pasid = iommu_alloc_global_pasid(devs[0]);
	KUNIT_ASSERT_NE(test, pasid, IOMMU_PASID_INVALID);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_pasid_free_action,
						  (void *)(uintptr_t)pasid));
	if (!p->empty)
		KUNIT_ASSERT_EQ(test, 0,
				iommu_attach_device_pasid(old, devs[0], pasid,
							  old_handle));

	if (p->failing >= 0)
		fake_iommu_dev_inject_fault(devs[p->failing],
					    FAKE_FAULT_SET_DEV_PASID, 1, -EIO);
	from = fake_iommu_log_len(test);
	ret = iommu_replace_device_pasid(new, devs[0], pasid, new_handle);

	if (p->empty) {
		KUNIT_EXPECT_EQ(test, ret, -EINVAL);
		cur = NULL;
	} else if (p->failing >= 0) {
		KUNIT_EXPECT_EQ(test, ret, -EIO);
		cur = old;
	} else {
		KUNIT_EXPECT_EQ(test, ret, 0);
		cur = new;
	}
	want = !cur ? ERR_PTR(-ENOENT) : cur == old && ret ? old_handle :
	       new_handle;
	KUNIT_EXPECT_PTR_EQ_MSG(test, iommu_attach_handle_get(devs[0]->iommu_group,
							      pasid, 0),
				want, "the group's handle on PASID %u", pasid);
	for (i = 0; i < ARRAY_SIZE(devs); i++)
		KUNIT_EXPECT_EQ_MSG(test, fake_iommu_dev_pasid_domain(devs[i], pasid),
				    cur ? fake_iommu_domain_id(cur) : 0,
				    "the domain on device %u", i);
	/*
	 * A refused replace touches nothing. To the same domain, whether the
	 * core programs the devices again is its business: the state counts.
	 */
	if (p->empty)
		KUNIT_EXPECT_EQ_MSG(test,
				    sva_calls_since(test, FAKE_OP_REPLACE_DEV_PASID,
						    NULL, from) +
				    sva_calls_since(test, FAKE_OP_SET_DEV_PASID,
						    NULL, from), 0,
				    "driver calls for a replace of nothing");
	if (!cur)
		return;
	/* Whatever is there still works: it comes off every device once. */
	from = fake_iommu_log_len(test);
	iommu_detach_device_pasid(cur, devs[0], pasid);
	KUNIT_EXPECT_EQ(test, sva_calls_since(test, FAKE_OP_REMOVE_DEV_PASID,
					      NULL, from), ARRAY_SIZE(devs));
	for (i = 0; i < ARRAY_SIZE(devs); i++)
		KUNIT_EXPECT_FALSE(test, fake_iommu_dev_pasid_set(devs[i], pasid));
}
#else
static void sva_device_test_replace(struct kunit *test)
{
	kunit_skip(test, "this kernel has no iommu_replace_device_pasid()");
}

static const bool sva_replace_params[] = { false };
static void sva_replace_desc(const bool *unused, char *desc)
{
	strscpy(desc, "not in this kernel", KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(sva_replace, sva_replace_params, sva_replace_desc);
#endif

/*
 * A device goes after its driver unbound it, and another comes in its
 * place (a hot-replugged function, a VF recreated) while the mm stays
 * bound through a third: the mm keeps its one PASID (I1), the newcomer is
 * programmed with it and shares the domain that is there (I3), and the
 * domain holds its one mm_count all along (I2).
 */
static void sva_device_test_replug_same_mm(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct device *gone = sva_dev(test, ctx->iommu, NULL, SVA_MAX_PASIDS);
	struct mm_struct *mm = sva_mm(test);
	struct iommu_sva *stays, *handle;
	struct device *newcomer;
	ioasid_t pasid;
	int base;

	base = atomic_read(&mm->mm_count);
	stays = sva_bind(test, ctx->dev, mm);
	pasid = sva_pasid(mm);
	sva_unbind(test, sva_bind(test, gone, mm));
	fake_iommu_kunit_remove_device(test, gone);
	SVA_EXPECT_CALLS(test, FAKE_OP_RELEASE_PASID, NULL, 0);

	newcomer = sva_dev(test, ctx->iommu, NULL, SVA_MAX_PASIDS);
	handle = sva_bind(test, newcomer, mm);
	KUNIT_EXPECT_EQ(test, iommu_sva_get_pasid(handle), pasid);
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(newcomer, pasid));
	KUNIT_EXPECT_PTR_EQ(test, sva_domain(handle), sva_domain(stays));
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm), 1);
	SVA_EXPECT_MM_COUNT(test, mm, base + 1);
}

struct sva_refused_param {
	const char *desc;
	enum { SVA_REFUSE_NO_PASID, SVA_REFUSE_PAST_MEMBER,
	       SVA_REFUSE_OTHER_DRIVER } what;
};

static const struct sva_refused_param sva_refused_params[] = {
	{ "PASID 0, the device's own", SVA_REFUSE_NO_PASID },
	{ "a PASID past a group member's range", SVA_REFUSE_PAST_MEMBER },
	{ "another driver's domain", SVA_REFUSE_OTHER_DRIVER },
};

KUNIT_ARRAY_PARAM_DESC(sva_refused, sva_refused_params, desc);

/*
 * iommu_attach_device_pasid() refuses a domain it cannot set: on
 * IOMMU_NO_PASID, on a PASID some device of the group cannot issue, or
 * from another driver. The refusal is -EINVAL with no driver call and no
 * attachment left on the PASID, and the domain then attaches where it can
 * (I8, I13).
 */
static void sva_device_test_attach_refused(struct kunit *test)
{
	const struct sva_refused_param *p = test->param_value;
	struct sva_test_ctx *ctx = test->priv;
	struct fake_iommu_group *group = fake_iommu_kunit_group(test);
	struct device *dev = sva_dev(test, ctx->iommu, group, SVA_MAX_PASIDS);
	struct device *narrowest = dev;
	struct iommu_domain *domain;
	ioasid_t pasid = 1, good;
	unsigned int from;

	if (p->what == SVA_REFUSE_PAST_MEMBER) {
		/* It issues PASID 1 only. */
		narrowest = sva_dev(test, ctx->iommu, group, 2);
		pasid = 2;
	} else if (p->what == SVA_REFUSE_NO_PASID) {
		pasid = IOMMU_NO_PASID;
	}
	if (p->what == SVA_REFUSE_OTHER_DRIVER) {
		struct fake_iommu *other = sva_iommu(test, FAKE_IOMMU_SHARE_ANY,
						     FAKE_IOMMU_DRIVER_B);

		domain = sva_paging_domain(test, sva_dev(test, other, NULL,
							 SVA_MAX_PASIDS));
	} else {
		domain = sva_paging_domain(test, dev);
	}

	from = fake_iommu_log_len(test);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_pasid(domain, dev, pasid,
							NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, sva_calls_since(test, FAKE_OP_SET_DEV_PASID, NULL,
					      from) +
			sva_calls_since(test, FAKE_OP_REPLACE_DEV_PASID, NULL,
					from), 0);
	KUNIT_EXPECT_FALSE(test, sva_pasid_attached(dev, pasid));
	if (p->what == SVA_REFUSE_OTHER_DRIVER)
		return;

	/* Nothing was left behind: the domain attaches where it fits. */
	good = sva_global_pasid(test, narrowest);
	sva_attach_pasid(test, domain, dev, good, NULL);
	KUNIT_EXPECT_TRUE(test, fake_iommu_dev_pasid_set(dev, good));
}

/*
 * A second domain attached to a PASID that has one: -EBUSY, without a
 * driver call, and the first stays (I8).
 */
static void sva_device_test_attach_taken_pasid(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct device *dev = ctx->dev;
	struct iommu_domain *first, *second;
	unsigned int from;
	ioasid_t pasid;

	first = sva_paging_domain(test, dev);
	second = sva_paging_domain(test, dev);
	pasid = sva_global_pasid(test, dev);
	sva_attach_pasid(test, first, dev, pasid, NULL);

	from = fake_iommu_log_len(test);
	KUNIT_EXPECT_EQ(test, iommu_attach_device_pasid(second, dev, pasid, NULL),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, sva_calls_since(test, FAKE_OP_SET_DEV_PASID, NULL,
					      from) +
			sva_calls_since(test, FAKE_OP_REPLACE_DEV_PASID, NULL,
					from), 0);
	KUNIT_EXPECT_EQ(test, fake_iommu_dev_pasid_domain(dev, pasid),
			fake_iommu_domain_id(first));
}

/*
 * What follows needs symbols the kernel does not export to modules:
 * kernel_clone() and kernel_wait() to fork, and
 * iommu_sva_invalidate_kva_range() for the mm list. It is built in only.
 */
#if IS_BUILTIN(CONFIG_IOMMU_SVA_KUNIT_TEST)

/* ---- iommu_sva_fork: a forked mm starts without SVA (I10) ---- */

struct sva_fork_child {
	struct completion done;
	struct mm_struct *mm;
	struct mm_struct *parent_mm;
	void *iommu_mm;
};

static int sva_fork_child_fn(void *data)
{
	struct sva_fork_child *child = data;

	child->mm = current->mm;
	if (child->mm) {
		/* Keep the mm_struct so the parent can drop it, and watch it. */
		mmgrab(child->mm);
		child->iommu_mm = READ_ONCE(child->mm->iommu_mm);
	}
	complete(&child->done);
	do_exit(0);
}

/*
 * fork() copies the mm with dup_mm(); the child must start without the
 * parent's iommu_mm (I10), and dropping the child must leave the parent's
 * PASID alone ("ida_free called for id=... which is not allocated").
 */
static void sva_test_fork_child_has_no_iommu_mm(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm = sva_mm(test);
	struct kernel_clone_args args = {
		.flags = CLONE_UNTRACED,
		.exit_signal = SIGCHLD,
		.fn = sva_fork_child_fn,
	};
	struct mm_struct *child_mm;
	struct sva_fork_child *child;
	void *child_iommu_mm;
	int status;
	ioasid_t pasid;
	pid_t pid;

	/*
	 * Not KUnit-managed: a child that never signals may still write to
	 * it after the case has failed, so then it is left allocated.
	 */
	child = kzalloc_obj(*child);
	KUNIT_ASSERT_NOT_NULL(test, child);
	init_completion(&child->done);
	args.fn_arg = child;

	sva_bind(test, ctx->dev, mm);
	pasid = sva_pasid(mm);

	/*
	 * Kernel threads ignore SIGCHLD, so their children are reaped as they
	 * exit; take it for the child's lifetime, as the usermode helper does,
	 * so that kernel_wait() below returns once the child is gone.
	 */
	kernel_sigaction(SIGCHLD, SIG_DFL);
	kthread_use_mm(mm);
	pid = kernel_clone(&args);
	kthread_unuse_mm(mm);
	if (pid <= 0) {
		kernel_sigaction(SIGCHLD, SIG_IGN);
		kfree(child);
		KUNIT_FAIL(test, "kernel_clone() failed: %d", pid);
		return;
	}
	if (!wait_for_completion_timeout(&child->done, 10 * HZ)) {
		kernel_sigaction(SIGCHLD, SIG_IGN);
		KUNIT_FAIL(test, "the forked child did not run within 10 s");
		return;
	}
	/* All it has left is do_exit(): its exit_mm() has run once it is reaped. */
	kernel_wait(pid, &status);
	kernel_sigaction(SIGCHLD, SIG_IGN);
	KUNIT_EXPECT_EQ(test, 0, fake_iommu_drop_lazy_mms());
	/* After complete(), the child no longer touches *child. */
	child_mm = child->mm;
	child_iommu_mm = child->iommu_mm;
	kfree(child);
	KUNIT_ASSERT_NOT_NULL(test, child_mm);
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_mmdrop_action,
						  child_mm));
	KUNIT_EXPECT_PTR_NE(test, child_mm, mm);
	KUNIT_EXPECT_NULL_MSG(test, child_iommu_mm,
			      "the forked mm inherited the parent's iommu_mm");

	/* The child's exit_mm() dropped its mm; drop the last mm_count. */
	KUNIT_EXPECT_EQ(test, atomic_read(&child_mm->mm_users), 0);
	kunit_release_action(test, sva_mmdrop_action, child_mm);

	KUNIT_EXPECT_NOT_NULL(test, READ_ONCE(mm->iommu_mm));
	KUNIT_EXPECT_EQ(test, sva_pasid(mm), pasid);
	KUNIT_EXPECT_FALSE_MSG(test, sva_pasid_free(ctx->dev, pasid),
			       "the child's exit freed the parent's PASID");
}

/* ---- iommu_sva_mmlist: the global list of mms with SVA domains (I11) ---- */

/*
 * A range no real caller of iommu_sva_invalidate_kva_range() uses, so
 * that the kernel's own invalidations (x86 frees kernel page tables
 * asynchronously) are not counted.
 */
#define SVA_KVA_START	0x5a5a0000UL
#define SVA_KVA_END	0x5a5b0000UL

static void sva_invalidate_kva(void)
{
#ifdef FAKE_IOMMU_HAS_SVA_MM_LIST
	iommu_sva_invalidate_kva_range(SVA_KVA_START, SVA_KVA_END);
#endif
}

/*
 * Counts how often the core's walk of the list reached an mm, whatever
 * domains it has: an observer the test registers on the mm itself, so
 * that it stays there after the last unbind.
 */
struct sva_observer {
	struct mmu_notifier mn;
	atomic_t hits;
};

static void sva_observer_invalidate(struct mmu_notifier *mn,
				    struct mm_struct *mm, unsigned long start,
				    unsigned long end)
{
	struct sva_observer *obs = container_of(mn, struct sva_observer, mn);

	if (start == SVA_KVA_START && end == SVA_KVA_END)
		atomic_inc(&obs->hits);
}

static const struct mmu_notifier_ops sva_observer_ops = {
	.arch_invalidate_secondary_tlbs = sva_observer_invalidate,
};

static void sva_observer_remove(void *data)
{
	struct sva_observer *obs = data;

	mmu_notifier_unregister(&obs->mn, obs->mn.mm);
}

/* The observer holds an mm_count until the test ends. */
static struct sva_observer *sva_observe(struct kunit *test,
					struct mm_struct *mm)
{
	struct sva_observer *obs = kunit_kzalloc(test, sizeof(*obs),
						 GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, obs);
	obs->mn.ops = &sva_observer_ops;
	KUNIT_ASSERT_EQ(test, 0, mmu_notifier_register(&obs->mn, mm));
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_observer_remove,
						  obs));
	return obs;
}

static struct fake_iommu *sva_iommu_notifier(struct kunit *test,
					     enum fake_iommu_policy policy)
{
	struct fake_iommu_config cfg = {
		.policy = policy,
		.driver = FAKE_IOMMU_DRIVER_A,
		.mm_notifier = true,
	};
	struct fake_iommu *iommu = fake_iommu_kunit_create(test, &cfg);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, iommu);
	return iommu;
}

/* Each domain's own notifier saw exactly @want walks of the test range. */
static void sva_expect_domain_walks(struct kunit *test,
				    struct iommu_domain *domain,
				    unsigned int want, const char *what)
{
	unsigned int got = fake_iommu_invalidations(domain, SVA_KVA_START,
						    SVA_KVA_END);

	KUNIT_EXPECT_EQ_MSG(test, got, want,
			    "invalidations reaching the notifier of %s", what);
	if (got != want)
		fake_iommu_log_dump(test);
}

static void sva_expect_mm_walks(struct kunit *test, struct sva_observer *obs,
				unsigned int want, const char *what)
{
	unsigned int got = atomic_read(&obs->hits);

	KUNIT_EXPECT_EQ_MSG(test, got, want,
			    "times one invalidation walk reached %s", what);
	if (got != want)
		fake_iommu_log_dump(test);
}

static int sva_mmlist_init(struct kunit *test)
{
#ifndef FAKE_IOMMU_HAS_SVA_MM_LIST
	kunit_skip(test, "the global SVA mm list came with v6.19 (e37d5a2d60a3)");
#endif
	return sva_test_init(test);
}

/*
 * One walk of the list, checking that it reached @obs's mm once and that
 * the notifier of each of @handles' domains saw it once: a domain shared
 * by several handles is still one notifier, and an mm with several
 * domains is still one entry on the list.
 */
static void sva_walk_once(struct kunit *test, struct sva_observer *obs,
			  struct iommu_sva **handles, unsigned int n)
{
	unsigned int before[4], i;
	int hits = atomic_read(&obs->hits);

	if (WARN_ON(n > ARRAY_SIZE(before)))
		return;
	for (i = 0; i < n; i++)
		before[i] = fake_iommu_invalidations(sva_domain(handles[i]),
						     SVA_KVA_START, SVA_KVA_END);
	sva_invalidate_kva();
	sva_expect_mm_walks(test, obs, hits + 1, "the bound mm");
	for (i = 0; i < n; i++)
		sva_expect_domain_walks(test, sva_domain(handles[i]),
					before[i] + 1, "a bound device's domain");
}

/*
 * An mm is on the list while it has at least one domain, once, however
 * many domains and devices it has; each invalidation reaches it exactly
 * once, and none does after its last domain went (I11).
 */
static void sva_test_mmlist_listed_while_bound(struct kunit *test)
{
	const struct sva_share_param *p = test->param_value;
	struct fake_iommu *x = sva_iommu_notifier(test, p->policy);
	struct fake_iommu *y = sva_iommu_notifier(test, p->policy);
	struct device *devs[3] = {
		sva_dev(test, x, NULL, SVA_MAX_PASIDS),
		sva_dev(test, x, NULL, SVA_MAX_PASIDS),
		sva_dev(test, y, NULL, SVA_MAX_PASIDS),
	};
	struct mm_struct *mm = sva_mm(test);
	struct sva_observer *obs = sva_observe(test, mm);
	struct iommu_sva *handles[3];
	unsigned int i, n, left;

	sva_invalidate_kva();
	sva_expect_mm_walks(test, obs, 0, "an mm that was never bound");

	for (i = 0; i < ARRAY_SIZE(devs); i++) {
		handles[i] = sva_bind(test, devs[i], mm);
		sva_walk_once(test, obs, handles, i + 1);
	}
	KUNIT_EXPECT_EQ(test, sva_nr_domains(mm),
			p->policy == FAKE_IOMMU_SHARE_ANY ? 1 : 2);

	for (left = ARRAY_SIZE(devs); left > 1; left--) {
		n = p->order == SVA_UNBIND_FIFO ? ARRAY_SIZE(devs) - left :
		    left - 1;
		sva_unbind(test, handles[n]);
		if (p->order == SVA_UNBIND_FIFO)
			sva_walk_once(test, obs, handles + n + 1, left - 1);
		else
			sva_walk_once(test, obs, handles, left - 1);
	}
	sva_unbind(test, handles[p->order == SVA_UNBIND_FIFO ?
				  ARRAY_SIZE(devs) - 1 : 0]);
	i = atomic_read(&obs->hits);
	sva_invalidate_kva();
	sva_expect_mm_walks(test, obs, i, "the mm after its last unbind");
}

/* Several mms on several instances are each reached once, alone (I11). */
static void sva_test_mmlist_several_mms(struct kunit *test)
{
	struct fake_iommu *iommus[3];
	struct sva_observer *obs[3];
	struct iommu_sva *handles[3];
	struct mm_struct *mms[3];
	unsigned int i;
	int hits[3];

	for (i = 0; i < ARRAY_SIZE(mms); i++) {
		iommus[i] = sva_iommu_notifier(test, FAKE_IOMMU_SHARE_OWN);
		mms[i] = sva_mm(test);
		obs[i] = sva_observe(test, mms[i]);
	}
	for (i = 0; i < ARRAY_SIZE(mms); i++) {
		struct device *dev = sva_dev(test, iommus[i], NULL,
					     SVA_MAX_PASIDS);

		handles[i] = sva_bind(test, dev, mms[i]);
	}
	for (i = 0; i < ARRAY_SIZE(mms); i++)
		sva_walk_once(test, obs[i], &handles[i], 1);

	/* The middle one goes: a walk still reaches each other one, once. */
	sva_unbind(test, handles[1]);
	for (i = 0; i < ARRAY_SIZE(mms); i++)
		hits[i] = atomic_read(&obs[i]->hits);
	sva_invalidate_kva();
	for (i = 0; i < ARRAY_SIZE(mms); i++)
		sva_expect_mm_walks(test, obs[i], hits[i] + (i != 1),
				    i != 1 ? "an mm still bound" :
				    "an mm unbound from every device");
}

struct sva_drop_param {
	bool mm_notifier;
	const char *desc;
};

static const struct sva_drop_param sva_drop_params[] = {
	{ false, "the core holds the last mm_count" },
	{ true, "the driver's notifier holds the last mm_count" },
};

KUNIT_ARRAY_PARAM_DESC(sva_drop, sva_drop_params, desc);

/*
 * 06e14c36e20b, CVE-2026-23429: the process is gone and the last unbind
 * drops the last mm_count, which frees the mm and its iommu_mm (I9). The
 * mm must be off the list before that (I11): a later walk, or a later bind
 * of another mm, must not meet it (KASAN, list debugging).
 */
static void sva_test_mmlist_last_mmdrop_in_unbind(struct kunit *test)
{
	const struct sva_drop_param *p = test->param_value;
	struct fake_iommu_config cfg = {
		.policy = FAKE_IOMMU_SHARE_ANY,
		.mm_notifier = p->mm_notifier,
	};
	struct fake_iommu *iommu = fake_iommu_kunit_create(test, &cfg);
	struct mm_struct *mm = sva_mm(test), *other = sva_mm(test);
	struct sva_observer *obs = sva_observe(test, other);
	struct iommu_sva *handle;
	struct device *dev;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, iommu);
	dev = sva_dev(test, iommu, NULL, SVA_MAX_PASIDS);
	handle = sva_bind(test, dev, mm);
	sva_mm_exit(test, mm);
	KUNIT_ASSERT_EQ(test, atomic_read(&mm->mm_count),
			p->mm_notifier ? 2 : 1);
	sva_unbind(test, handle);
	/* mm is freed now. */

	sva_invalidate_kva();
	sva_expect_mm_walks(test, obs, 0, "an mm that was never bound");
	dev = sva_dev(test, sva_iommu_notifier(test, FAKE_IOMMU_SHARE_ANY), NULL,
		      SVA_MAX_PASIDS);
	handle = sva_bind(test, dev, other);
	sva_walk_once(test, obs, &handle, 1);
}

/* With nothing bound, no walk reaches any mm (I11). */
static void sva_test_mmlist_nothing_bound(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	struct mm_struct *mm = sva_mm(test);
	struct sva_observer *obs = sva_observe(test, mm);

	sva_invalidate_kva();
	sva_expect_mm_walks(test, obs, 0, "an mm that was never bound");
	sva_unbind(test, sva_bind(test, ctx->dev, mm));
	sva_invalidate_kva();
	sva_expect_mm_walks(test, obs, 0, "an mm bound and unbound");
}

/*
 * Threads bind, exit and unbind mms while another walks the list. Each
 * binder's round: a fresh mm bound on a device of each of two instances,
 * the process exits (mmput()), then both unbind, and the last mm_count
 * holder to go frees the mm and its iommu_mm.
 */
#define SVA_WALK_BINDERS	2

struct sva_walk_race;

struct sva_walk_binder {
	struct sva_walk_race *race;
	struct device *devs[2];
	unsigned int rounds;
	int err;
	DECLARE_BITMAP(pasids, SVA_MAX_PASIDS);
	struct completion done;
};

struct sva_walk_race {
	unsigned long deadline;
	atomic_t binding;	/* binders inside a bind, an unbind or mmput() */
	atomic_t walking;	/* 1 while the walker is inside a walk */
	atomic_t op_overlaps;	/* of those, started during a walk */
	atomic_t running;	/* binders not done yet */
	unsigned int walks, walk_overlaps;
	struct sva_walk_binder binders[SVA_WALK_BINDERS];
};

static void sva_walk_op_enter(struct sva_walk_race *race)
{
	atomic_inc(&race->binding);
	if (atomic_read(&race->walking))
		atomic_inc(&race->op_overlaps);
}

static int sva_walk_binder_fn(void *data)
{
	struct sva_walk_binder *b = data;
	struct sva_walk_race *race = b->race;
	struct iommu_sva *handles[2];
	struct mm_struct *mm;
	unsigned int i;

	while (!b->err && b->rounds < SVA_FRESH_ROUNDS &&
	       time_before(jiffies, race->deadline)) {
		mm = mm_alloc();
		if (!mm) {
			b->err = -ENOMEM;
			break;
		}
		for (i = 0; i < 2; i++) {
			sva_walk_op_enter(race);
			handles[i] = iommu_sva_bind_device(b->devs[i], mm);
			atomic_dec(&race->binding);
			if (IS_ERR(handles[i]))
				b->err = PTR_ERR(handles[i]);
		}
		if (mm->iommu_mm)
			__set_bit(mm->iommu_mm->pasid, b->pasids);
		/* The process exits; the domains keep the mm_struct (I2). */
		sva_walk_op_enter(race);
		mmput(mm);
		atomic_dec(&race->binding);
		/* In either order; nothing may touch the mm once freed (I9). */
		for (i = 0; i < 2; i++) {
			struct iommu_sva *handle = handles[(i + b->rounds) % 2];

			if (IS_ERR(handle))
				continue;
			sva_walk_op_enter(race);
			iommu_sva_unbind_device(handle);
			atomic_dec(&race->binding);
		}
		b->rounds++;
	}
	atomic_dec(&race->running);
	complete(&b->done);
	return 0;
}

/*
 * Walks of the list (the kernel's KVA invalidation) while other threads
 * bind fresh mms, the mms' processes exit, and the last unbind of each
 * frees its mm: the list must stay whole (KASAN, list debugging), an mm
 * bound all along must be reached by every walk exactly once (I11), and
 * everything balances at the end. The walks and the binders' calls must
 * have overlapped, both ways.
 */
static void sva_test_race_mmlist_walk(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	unsigned int i, started, rounds = 0, op_overlaps;
	struct sva_observer *obs;
	struct mm_struct *anchor;
	struct fake_iommu *iommus[2];
	struct sva_walk_race *race;
	int live, hits;

#ifndef FAKE_IOMMU_HAS_SVA_MM_LIST
	kunit_skip(test, "the global SVA mm list came with v6.19 (e37d5a2d60a3)");
#endif
	sva_race_need_cpus(test);
	anchor = sva_mm(test);
	obs = sva_observe(test, anchor);
	/*
	 * A walk that reaches a binder's mm calls into the notifier of its
	 * domain on the first instance, while that mm may be leaving the list.
	 */
	iommus[0] = sva_iommu_notifier(test, FAKE_IOMMU_SHARE_OWN);
	iommus[1] = sva_iommu(test, FAKE_IOMMU_SHARE_OWN, FAKE_IOMMU_DRIVER_A);
	sva_bind(test, ctx->dev, anchor);
	live = fake_iommu_live_domains(test);
	hits = atomic_read(&obs->hits);

	/* Not KUnit-managed: a binder that hangs still uses it. */
	race = kzalloc_obj(*race);
	KUNIT_ASSERT_NOT_NULL(test, race);
	for (i = 0; i < SVA_WALK_BINDERS; i++) {
		struct sva_walk_binder *b = &race->binders[i];

		b->race = race;
		init_completion(&b->done);
		b->devs[0] = fake_iommu_kunit_add_device(test, iommus[0], NULL,
							 SVA_MAX_PASIDS);
		b->devs[1] = fake_iommu_kunit_add_device(test, iommus[1], NULL,
							 SVA_MAX_PASIDS);
		if (IS_ERR(b->devs[0]) || IS_ERR(b->devs[1]) ||
		    fake_iommu_dev_enable_sva(b->devs[0]) ||
		    fake_iommu_dev_enable_sva(b->devs[1])) {
			kfree(race);
			KUNIT_FAIL(test, "could not add the SVA devices of binder %u",
				   i);
			return;
		}
	}
	race->deadline = jiffies + SVA_RACE_BUDGET;
	for (started = 0; started < SVA_WALK_BINDERS; started++) {
		struct task_struct *task;

		atomic_inc(&race->running);
		task = kthread_run(sva_walk_binder_fn, &race->binders[started],
				   "sva-walk-%u", started);
		if (IS_ERR(task)) {
			atomic_dec(&race->running);
			KUNIT_FAIL(test, "kthread_run: %pe", task);
			break;
		}
	}
	/* The case's own thread walks, for as long as a binder runs. */
	while (atomic_read(&race->running)) {
		atomic_set(&race->walking, 1);
		race->walk_overlaps += atomic_read(&race->binding) > 0;
		sva_invalidate_kva();
		atomic_set(&race->walking, 0);
		race->walks++;
		if (time_after(jiffies, race->deadline + SVA_RACE_TIMEOUT)) {
			KUNIT_FAIL(test, "a binder hangs (%u s)",
				   SVA_RACE_TIMEOUT / HZ);
			return;
		}
		cond_resched();
	}
	for (i = 0; i < started; i++) {
		struct sva_walk_binder *b = &race->binders[i];

		wait_for_completion(&b->done);
		KUNIT_EXPECT_EQ_MSG(test, b->err, 0, "binder %u", i);
		KUNIT_EXPECT_EQ(test, fake_iommu_dev_pasids_set(b->devs[0]), 0);
		KUNIT_EXPECT_EQ(test, fake_iommu_dev_pasids_set(b->devs[1]), 0);
		bitmap_or(ctx->pasids_held, ctx->pasids_held, b->pasids,
			  SVA_MAX_PASIDS);
		rounds += b->rounds;
	}
	op_overlaps = atomic_read(&race->op_overlaps);
	kunit_info(test, "%u walks, %u of them while a bind, unbind or exit was in progress; %u rounds of the binders, %u of their calls started during a walk\n",
		   race->walks, race->walk_overlaps, rounds, op_overlaps);
	sva_expect_mm_walks(test, obs, hits + race->walks,
			    "the mm bound all along");
	KUNIT_EXPECT_GT_MSG(test, race->walk_overlaps, 0,
			    "no walk started while a binder was inside a call");
	KUNIT_EXPECT_GT_MSG(test, op_overlaps, 0,
			    "no bind, unbind or exit started during a walk");
	kfree(race);
	KUNIT_EXPECT_EQ(test, fake_iommu_live_domains(test), live);
}

/* ---- Failing the core's own allocations ---- */

struct sva_alloc_param {
	const char *desc;
	/* The bind under test is a second device's, the mm bound already */
	bool second;
	/* ... behind a share-own instance, which needs a domain of its own */
	bool own_domain;
};

static const struct sva_alloc_param sva_alloc_params[] = {
	{ "first bind of an mm", false, false },
	{ "second device, the shared domain", true, false },
	{ "second device, a domain of its own", true, true },
};

KUNIT_ARRAY_PARAM_DESC(sva_alloc, sva_alloc_params, desc);

#if defined(CONFIG_FAILSLAB) && defined(CONFIG_FAULT_INJECTION_DEBUG_FS)
#define SVA_FAIL_NTH_MAX	64

/* failslab's knobs as they were before a case changed them */
static char sva_failslab_saved[2][16];

/*
 * Write @val to /sys/kernel/debug/failslab/@name through the user page
 * @ubuf, after reading what was there into @old unless it is NULL.
 */
static int sva_failslab_knob(struct vfsmount *debugfs, unsigned long ubuf,
			     const char *name, const char *val, char *old)
{
	size_t len = strlen(val);
	struct file *file;
	char path[40];
	loff_t pos = 0;
	ssize_t ret = 0;

	snprintf(path, sizeof(path), "failslab/%s", name);
	file = file_open_root_mnt(debugfs, path, O_RDWR, 0);
	if (IS_ERR(file))
		return PTR_ERR(file);
	if (old) {
		ret = vfs_read(file, (char __user *)ubuf,
			       sizeof(sva_failslab_saved[0]) - 1, &pos);
		if (ret > 0 && copy_from_user(old, (const char __user *)ubuf, ret))
			ret = -EFAULT;
		old[max_t(ssize_t, ret, 0)] = '\0';
		pos = 0;
	}
	if (ret >= 0)
		ret = copy_to_user((char __user *)ubuf, val, len) ? -EFAULT :
		      vfs_write(file, (const char __user *)ubuf, len, &pos);
	fput(file);
	return ret == len ? 0 : ret < 0 ? ret : -EIO;
}

/*
 * Let current->fail_nth fail any slab allocation (@on), or put failslab's
 * knobs back as they were. failslab ignores the allocations that may
 * reclaim, GFP_KERNEL ones, unless its "ignore-gfp-wait" knob is off, and
 * that knob, like "verbose", is reachable only through debugfs, as a file
 * with a user-memory read and write method: the page they go through is
 * mapped in an mm of its own, here.
 */
static int sva_failslab_any(bool on)
{
	struct file_system_type *fs = get_fs_type("debugfs");
	struct vfsmount *debugfs;
	struct mm_struct *mm;
	unsigned long ubuf;
	int ret;

	if (!fs)
		return -ENODEV;
	debugfs = kern_mount(fs);
	put_filesystem(fs);
	if (IS_ERR(debugfs))
		return PTR_ERR(debugfs);
	mm = mm_alloc();
	if (!mm) {
		kern_unmount(debugfs);
		return -ENOMEM;
	}
	ubuf = fake_iommu_mmap(mm, PAGE_SIZE, PROT_READ | PROT_WRITE);
	kthread_use_mm(mm);
	ret = IS_ERR_VALUE(ubuf) ? (int)ubuf :
	      sva_failslab_knob(debugfs, ubuf, "ignore-gfp-wait",
				on ? "N" : sva_failslab_saved[0],
				on ? sva_failslab_saved[0] : NULL);
	/* A failure injected on purpose is no news for the kernel log. */
	if (!ret)
		ret = sva_failslab_knob(debugfs, ubuf, "verbose",
					on ? "0" : sva_failslab_saved[1],
					on ? sva_failslab_saved[1] : NULL);
	kthread_unuse_mm(mm);
	mmput(mm);
	kern_unmount(debugfs);
	return ret;
}

static void sva_failslab_restore(void *data)
{
	struct kunit *test = data;

	KUNIT_EXPECT_EQ_MSG(test, 0, sva_failslab_any(false),
			    "failslab's knobs not restored");
}

/*
 * Make every allocation of this thread eligible for current->fail_nth
 * until the end of @test; skips @test where the kernel cannot.
 */
static void sva_fail_nth_begin(struct kunit *test)
{
	int ret = sva_failslab_any(true);

	if (ret == -ENOENT || ret == -ENODEV)
		kunit_skip(test, "failslab's debugfs files are missing (%d)",
			   ret);
	KUNIT_ASSERT_EQ_MSG(test, ret, 0, "failslab's knobs");
	KUNIT_ASSERT_EQ(test, 0,
			kunit_add_action_or_reset(test, sva_failslab_restore,
						  test));
}

/*
 * The core cannot allocate the group of a page request: it answers the
 * request FAILURE, once, and leaks nothing (kmemleak, in the last suite).
 * Each allocation the report makes in the reporting thread fails in
 * turn, the n-th one for n = 1, 2, ... (current->fail_nth), until a
 * report leaves current->fail_nth non-zero: no allocation was left to
 * fail. Every report is answered exactly once, whichever one failed.
 */
static void sva_iopf_test_group_alloc_fails(struct kunit *test)
{
	struct sva_test_ctx *ctx = test->priv;
	unsigned int n, failures = 0, refused = 0;
	bool exhausted = false;
	struct sva_iopf_mm m;
	int ret, code;
	ioasid_t pasid;
	u32 grp;

	sva_iopf_mm(test, &m);
	sva_bind(test, ctx->dev, m.mm);
	pasid = sva_pasid(m.mm);
	sva_fail_nth_begin(test);

	for (n = 1; n <= SVA_FAIL_NTH_MAX && !exhausted; n++) {
		grp = 100 + n;
		current->fail_nth = n;
		ret = sva_iopf_fault(ctx->dev, pasid, m.rw,
				     IOMMU_FAULT_PERM_WRITE, grp, true);
		exhausted = current->fail_nth;
		current->fail_nth = 0;
		if (ret == -ENOMEM) {
			/* The fake hardware's own allocation: nothing reported */
			refused++;
			KUNIT_EXPECT_EQ(test, 0,
					sva_iopf_responses(test, dev_name(ctx->dev),
							   grp, &code));
			continue;
		}
		KUNIT_EXPECT_EQ_MSG(test, ret, 0, "report %u", n);
		KUNIT_ASSERT_GE_MSG(test, sva_iopf_wait_response(test, ctx->dev, grp),
				    0, "report %u never answered", n);
		KUNIT_EXPECT_EQ_MSG(test, 1,
				    sva_iopf_responses(test, dev_name(ctx->dev),
						       grp, &code),
				    "responses to report %u", n);
		if (code == IOMMU_PAGE_RESP_FAILURE)
			failures++;
		else
			KUNIT_EXPECT_EQ_MSG(test, code, IOMMU_PAGE_RESP_SUCCESS,
					    "report %u", n);
	}
	KUNIT_EXPECT_TRUE_MSG(test, exhausted,
			      "an allocation still failed at the %u-th", n - 1);
	KUNIT_EXPECT_EQ_MSG(test, failures, 1,
			    "FAILURE responses: one for the group the core could not allocate");
	kunit_info(test,
		   "failed each of the %u slab allocations of a report in turn, kmemleak's own included (%u of the fake hardware's)\n",
		   n - 2, refused);
}

/* @what, under allocation failure @n, left nothing behind on @dev (I7) */
static void sva_expect_undone(struct kunit *test, const char *what,
			      unsigned int n, struct device *dev,
			      struct mm_struct *mm, int base, int live,
			      unsigned int set)
{
	KUNIT_EXPECT_EQ_MSG(test, fake_iommu_live_domains(test), live,
			    "%s %u left a domain (I7)", what, n);
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&mm->mm_count), base,
			    "%s %u left an mm_count (I7)", what, n);
	KUNIT_EXPECT_EQ_MSG(test, fake_iommu_dev_pasids_set(dev), set,
			    "%s %u left a PASID set (I7)", what, n);
	if (mm->iommu_mm)
		KUNIT_EXPECT_FALSE_MSG(test, sva_pasid_attached(dev, sva_pasid(mm)),
				       "%s %u left an attach handle (I7)", what, n);
}

/*
 * Every allocation of a bind fails in turn, the n-th for n = 1, 2, ...
 * (current->fail_nth), until a bind leaves current->fail_nth non-zero: no
 * allocation was left to fail, as syzkaller stops. A bind that failed
 * returned an error pointer, never NULL, and left nothing: no handle, no
 * domain, no PASID set, no mm_count (I7, I8); the mm may keep its
 * iommu_mm and PASID until __mmdrop() (I1), which the exit check sees.
 * A bind may also succeed although an allocation failed: the xarray
 * retries with other flags. Either way, a bind of the same pair without a
 * failure then succeeds. The same for unbind: whatever allocation fails,
 * it leaves nothing.
 */
static void sva_device_test_bind_alloc_fails(struct kunit *test)
{
	const struct sva_alloc_param *p = test->param_value;
	struct sva_test_ctx *ctx = test->priv;
	unsigned int n, failed = 0, unharmed = 0, set;
	struct device *dev = ctx->dev;
	struct iommu_sva *handle;
	struct mm_struct *mm = NULL;
	bool exhausted = false;
	int live, base;

	if (p->second) {
		dev = sva_dev(test, p->own_domain ?
			      sva_iommu(test, FAKE_IOMMU_SHARE_OWN,
					FAKE_IOMMU_DRIVER_A) : ctx->iommu,
			      NULL, SVA_MAX_PASIDS);
		mm = sva_mm(test);
		sva_bind(test, ctx->dev, mm);
	}
	sva_fail_nth_begin(test);

	for (n = 1; n <= SVA_FAIL_NTH_MAX && !exhausted; n++) {
		if (!p->second)
			mm = sva_mm(test);
		live = fake_iommu_live_domains(test);
		base = atomic_read(&mm->mm_count);
		set = fake_iommu_dev_pasids_set(dev);
		current->fail_nth = n;
		handle = iommu_sva_bind_device(dev, mm);
		exhausted = current->fail_nth;
		current->fail_nth = 0;
		sva_note_pasid(test, mm);
		KUNIT_EXPECT_NOT_NULL_MSG(test, handle, "bind %u returned NULL (I8)",
					  n);
		if (IS_ERR_OR_NULL(handle)) {
			failed++;
			sva_expect_undone(test, "the failed bind", n, dev, mm,
					  base, live, set);
			handle = iommu_sva_bind_device(dev, mm);
			KUNIT_EXPECT_FALSE_MSG(test, IS_ERR_OR_NULL(handle),
					       "the bind after the failed bind %u: %pe",
					       n, handle);
		} else {
			unharmed++;
		}
		if (!IS_ERR_OR_NULL(handle))
			iommu_sva_unbind_device(handle);
		sva_expect_undone(test, "bind and unbind", n, dev, mm, base,
				  live, set);
		if (!p->second)
			sva_mm_exit(test, mm);
	}
	KUNIT_EXPECT_TRUE_MSG(test, exhausted,
			      "an allocation of bind still failed at the %u-th", n - 1);
	KUNIT_EXPECT_GT_MSG(test, failed, 0, "no allocation failure failed a bind");
	kunit_info(test,
		   "failed each of the %u slab allocations of a bind in turn: the bind failed %u times, and succeeded all the same %u times\n",
		   n - 2, failed, unharmed);

	/* Unbind: it cannot fail, and must leave nothing whatever fails. */
	if (!p->second)
		mm = sva_mm(test);
	live = fake_iommu_live_domains(test);
	base = atomic_read(&mm->mm_count);
	set = fake_iommu_dev_pasids_set(dev);
	exhausted = false;
	for (n = 1; n <= SVA_FAIL_NTH_MAX && !exhausted; n++) {
		handle = sva_bind(test, dev, mm);
		kunit_remove_action(test, sva_unbind_action, handle);
		current->fail_nth = n;
		iommu_sva_unbind_device(handle);
		exhausted = current->fail_nth;
		current->fail_nth = 0;
		sva_expect_undone(test, "unbind", n, dev, mm, base, live, set);
	}
	kunit_info(test, "failed each of the %u slab allocations of an unbind in turn\n",
		   n - 2);
}
#else
static void sva_iopf_test_group_alloc_fails(struct kunit *test)
{
	kunit_skip(test,
		   "needs CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS, to fail the core's allocations");
}

static void sva_device_test_bind_alloc_fails(struct kunit *test)
{
	kunit_skip(test,
		   "needs CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS, to fail the core's allocations");
}
#endif

#endif /* IS_BUILTIN(CONFIG_IOMMU_SVA_KUNIT_TEST) */

static struct kunit_case sva_bind_cases[] = {
	KUNIT_CASE(sva_test_bind_unbind_counts),
	KUNIT_CASE_PARAM(sva_test_rebind_same_handle, sva_rebind_gen_params),
	KUNIT_CASE(sva_test_unbind_after_exit_frees_mm),
	KUNIT_CASE(sva_test_mmgrab_mmdrop_order),
	{}
};

static struct kunit_case sva_pasid_cases[] = {
	KUNIT_CASE(sva_test_pasid_stable_across_cycles),
	KUNIT_CASE(sva_test_pasid_distinct_between_mms),
	KUNIT_CASE_PARAM(sva_test_pasid_range_and_exhaustion,
			 sva_width_gen_params),
	KUNIT_CASE(sva_test_pasid_too_large_eoverflow),
	KUNIT_CASE(sva_test_pasid_reused_only_after_mmdrop),
	{}
};

static struct kunit_case sva_share_cases[] = {
	KUNIT_CASE_PARAM(sva_test_share_one_instance, sva_share_gen_params),
	KUNIT_CASE_PARAM(sva_test_share_across_instances, sva_share_gen_params),
	KUNIT_CASE(sva_test_share_across_drivers),
	KUNIT_CASE_PARAM(sva_test_share_rebind_second_device,
			 sva_share_gen_params),
	KUNIT_CASE_PARAM(sva_test_share_third_bind_finds_domain,
			 sva_third_gen_params),
	KUNIT_CASE_PARAM(sva_test_mm_count_per_domain, sva_share_gen_params),
	{}
};

static struct kunit_case sva_nobind_cases[] = {
	KUNIT_CASE(sva_test_error_no_group_enodev),
	{}
};

static struct kunit_case sva_error_cases[] = {
	KUNIT_CASE_PARAM(sva_test_error_driver_failure, sva_fault_gen_params),
	KUNIT_CASE(sva_test_error_sva_not_enabled),
	KUNIT_CASE(sva_test_error_no_pasid_support),
	KUNIT_CASE_PARAM(sva_test_error_pasid_busy, sva_busy_gen_params),
	{}
};

static struct kunit_case sva_group_cases[] = {
	KUNIT_CASE(sva_test_group_bind_all_devices),
	KUNIT_CASE_PARAM(sva_test_group_partial_failure, sva_member_gen_params),
	KUNIT_CASE(sva_test_group_with_no_pasid_device),
	KUNIT_CASE_PARAM(sva_test_group_pasid_at_member_limit,
			 sva_limit_gen_params),
	KUNIT_CASE_PARAM(sva_test_group_revert_skips_no_pasid_device,
			 sva_failing_gen_params),
	{}
};

static struct kunit_case sva_race_cases[] = {
	KUNIT_CASE_PARAM(sva_test_race_bind_unbind, sva_race_gen_params),
	KUNIT_CASE_PARAM(sva_test_race_fresh_mm, sva_race_gen_params),
#if IS_BUILTIN(CONFIG_IOMMU_SVA_KUNIT_TEST)
	KUNIT_CASE(sva_test_race_mmlist_walk),
#endif
	{}
};

static struct kunit_case sva_iopf_cases[] = {
	KUNIT_CASE_PARAM(sva_iopf_test_fault_served,
			 sva_iopf_served_gen_params),
	KUNIT_CASE_PARAM(sva_iopf_test_fault_refused, sva_iopf_bad_gen_params),
	KUNIT_CASE(sva_iopf_test_group_served),
	KUNIT_CASE(sva_iopf_test_group_error_sticky),
	KUNIT_CASE(sva_iopf_test_fault_after_exit),
	KUNIT_CASE_PARAM(sva_iopf_test_fault_no_domain,
			 sva_iopf_was_bound_gen_params),
	KUNIT_CASE(sva_iopf_test_unbind_waits_for_fault),
	KUNIT_CASE(sva_iopf_test_exit_during_fault),
	KUNIT_CASE(sva_iopf_test_remove_answers_pending),
	KUNIT_CASE(sva_iopf_test_unplug_during_fault),
	KUNIT_CASE(sva_iopf_test_enable_balanced_mms),
	KUNIT_CASE_PARAM(sva_iopf_test_enable_balanced_group,
			 sva_member_gen_params),
#if IS_BUILTIN(CONFIG_IOMMU_SVA_KUNIT_TEST)
	KUNIT_CASE(sva_iopf_test_group_alloc_fails),
#endif
	{}
};

static struct kunit_case sva_device_cases[] = {
	KUNIT_CASE(sva_device_test_unbind_then_unplug),
	KUNIT_CASE(sva_device_test_instance_gone),
	KUNIT_CASE(sva_device_test_member_unplugged),
	KUNIT_CASE_PARAM(sva_device_test_replace, sva_replace_gen_params),
	KUNIT_CASE(sva_device_test_attach_taken_pasid),
	KUNIT_CASE_PARAM(sva_device_test_attach_refused,
			 sva_refused_gen_params),
	KUNIT_CASE(sva_device_test_replug_same_mm),
#if IS_BUILTIN(CONFIG_IOMMU_SVA_KUNIT_TEST)
	KUNIT_CASE_PARAM(sva_device_test_bind_alloc_fails, sva_alloc_gen_params),
#endif
	/* Last: when asked for, they may take the kernel down. */
	KUNIT_CASE(sva_device_test_join_bound_group),
	KUNIT_CASE(sva_device_test_unplug_bound),
	{}
};

static struct kunit_suite sva_bind_suite = {
	.name = "iommu_sva_bind",
	.init = sva_test_init,
	.test_cases = sva_bind_cases,
};

static struct kunit_suite sva_pasid_suite = {
	.name = "iommu_sva_pasid",
	.init = sva_test_init,
	.test_cases = sva_pasid_cases,
};

static struct kunit_suite sva_share_suite = {
	.name = "iommu_sva_share",
	.init = sva_test_init,
	.test_cases = sva_share_cases,
};

/* Cases that need no successful bind: they run where SVA is disabled too. */
static struct kunit_suite sva_nobind_suite = {
	.name = "iommu_sva_nobind",
	.init = sva_test_setup,
	.test_cases = sva_nobind_cases,
};

static struct kunit_suite sva_error_suite = {
	.name = "iommu_sva_error",
	.init = sva_test_init,
	.test_cases = sva_error_cases,
};

static struct kunit_suite sva_group_suite = {
	.name = "iommu_sva_group",
	.init = sva_test_init,
	.test_cases = sva_group_cases,
};

static struct kunit_suite sva_race_suite = {
	.name = "iommu_sva_race",
	.init = sva_test_init,
	.test_cases = sva_race_cases,
};

static struct kunit_suite sva_iopf_suite = {
	.name = "iommu_sva_iopf",
	.init = sva_test_init,
	.test_cases = sva_iopf_cases,
};

static struct kunit_suite sva_device_suite = {
	.name = "iommu_sva_device",
	.init = sva_test_init,
	.test_cases = sva_device_cases,
};

kunit_test_suites(&sva_nobind_suite, &sva_bind_suite, &sva_pasid_suite,
		  &sva_share_suite, &sva_error_suite, &sva_group_suite,
		  &sva_race_suite, &sva_iopf_suite, &sva_device_suite);

#if IS_BUILTIN(CONFIG_IOMMU_SVA_KUNIT_TEST)
static struct kunit_case sva_fork_cases[] = {
	KUNIT_CASE(sva_test_fork_child_has_no_iommu_mm),
	{}
};

static struct kunit_case sva_mmlist_cases[] = {
	KUNIT_CASE_PARAM(sva_test_mmlist_listed_while_bound,
			 sva_share_gen_params),
	KUNIT_CASE(sva_test_mmlist_several_mms),
	KUNIT_CASE_PARAM(sva_test_mmlist_last_mmdrop_in_unbind,
			 sva_drop_gen_params),
	KUNIT_CASE(sva_test_mmlist_nothing_bound),
	{}
};

static struct kunit_suite sva_fork_suite = {
	.name = "iommu_sva_fork",
	.init = sva_test_init,
	.test_cases = sva_fork_cases,
};

static struct kunit_suite sva_mmlist_suite = {
	.name = "iommu_sva_mmlist",
	.init = sva_mmlist_init,
	.test_cases = sva_mmlist_cases,
};

kunit_test_suites(&sva_fork_suite, &sva_mmlist_suite);
#endif

#ifdef FAKE_IOMMU_NS_UNQUOTED
MODULE_IMPORT_NS(IOMMUFD_INTERNAL);
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
#else
MODULE_IMPORT_NS("IOMMUFD_INTERNAL");
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");
#endif

MODULE_DESCRIPTION("KUnit tests for the IOMMU SVA lifecycle");
MODULE_LICENSE("GPL");
