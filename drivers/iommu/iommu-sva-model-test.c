// SPDX-License-Identifier: GPL-2.0
/*
 * Model-based KUnit test of the IOMMU SVA lifecycle.
 *
 * From a seed, the test builds a small world of fake IOMMU instances (both
 * sharing policies, both fake drivers), devices (different max_pasids, 0
 * included, some in multi-device groups) and mms, and walks a random
 * sequence of operations over it: bind, unbind, the exit of a process that
 * is still bound, a new mm, a driver failure injected into the next
 * allocation or set_dev_pasid, a PASID taken by a paging domain, the
 * invalidation of a kernel range, and a device's page request on an mm's
 * PASID. A model written from invariants of the SVA lifecycle, each
 * stated where the model relies on it (I1-I15), and not from the core's
 * code, predicts every step: which binds fail and with which error,
 * handle and domain user counts, the domains of each mm (per instance),
 * each mm's mm_count, which PASIDs are allocated, the driver calls the
 * step must cause, each with the mm_count it must see, and the response
 * to a page request and the pages it brings in. After every step
 * the test compares the model with what the core and the fake driver
 * report, and stops at the first difference.
 *
 * Where the design leaves the core a choice, the model takes the core's
 * and checks only that it was allowed: the PASID of a new mm (any free one
 * the device can encode), which of the mm's domains a bind tries first,
 * the order in which a group's devices are programmed, and the order of
 * the driver calls of a step. Domains and calls are compared as sets; the
 * orders the design does fix are checked on the record: the mm_count each
 * call saw (mmgrab() before the driver gets the domain, mmdrop() before
 * the driver frees it), and no call for a domain after its free.
 *
 * A failure prints the seed and the failing step at once, then replays
 * the sequence in a fresh world, step by step, with the driver's record
 * of the failing one. Beside the random walks, a slow case runs every
 * sequence of up to a few steps over one small world, shortest first: it
 * finds the shortest sequences that show a difference. The hand-written
 * suite stays; this one is a second opinion.
 *
 * Its parameters (below) go on the kernel command line when it is built
 * in: kunit.py run --kernel_args=iommu_sva_model_test.seed=7, ...
 */
#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/bitops.h>
#include <linux/err.h>
#include <linux/iommu.h>
#include <linux/jhash.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/math64.h>
#include <linux/mm_types.h>
#include <linux/mman.h>
#include <linux/moduleparam.h>
#include <linux/prandom.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "fake-iommu/fake-iommu.h"
#include "iommu-priv.h"

#define SVA_MODEL_MAX_INST	3
#define SVA_MODEL_MAX_DEVS	10
#define SVA_MODEL_MAX_GROUPS	2
#define SVA_MODEL_MAX_MMS	6
#define SVA_MODEL_MAX_DOMS	64
#define SVA_MODEL_MAX_BONDS	64
#define SVA_MODEL_MAX_CALLS	96
#define SVA_MODEL_MAX_STEPS	100000U
/* The widest device: PASIDs 1 to 15, so that narrow devices run out. */
#define SVA_MODEL_WIDE		16
#define SVA_MODEL_MSG		256
#define SVA_MODEL_SOAK_BLOCKS	10
/* Pages of each mm's mapping that page requests hit, and one past it */
#define SVA_MODEL_PAGES		2
/* A range no real caller of iommu_sva_invalidate_kva_range() uses */
#define SVA_MODEL_KVA_START	0x5a5c0000UL
#define SVA_MODEL_KVA_END	0x5a5d0000UL
/*
 * Walking the global SVA mm list needs a symbol the kernel does not
 * export: a module leaves that step out. Fork is the fork case's.
 */
#define SVA_MODEL_KERNEL_STEPS	IS_BUILTIN(CONFIG_IOMMU_SVA_KUNIT_TEST)

static unsigned long long sva_model_seed = 1;
module_param_named(seed, sva_model_seed, ullong, 0644);
MODULE_PARM_DESC(seed, "first seed of the default run and of the soak");

static unsigned int sva_model_seeds = 8;
module_param_named(seeds, sva_model_seeds, uint, 0644);
MODULE_PARM_DESC(seeds, "number of seeds of the default run");

static unsigned int sva_model_steps = 64;
module_param_named(steps, sva_model_steps, uint, 0644);
MODULE_PARM_DESC(steps, "random steps per seed");

static unsigned int sva_model_soak_seeds;
module_param_named(soak_seeds, sva_model_soak_seeds, uint, 0644);
MODULE_PARM_DESC(soak_seeds, "seeds of the slow soak case; 0 skips it");

/* ---- the kernel's PRNG: a seed replays exactly, on any kernel ---- */

static u32 sva_model_below(struct rnd_state *rng, u32 n)
{
	return (u32)(((u64)prandom_u32_state(rng) * n) >> 32);
}

/* ---- the world: what a seed builds ---- */

struct sva_model_inst_spec {
	bool present;
	bool notifier;
	u8 policy;	/* enum fake_iommu_policy */
	u8 driver;	/* enum fake_iommu_driver */
};

struct sva_model_dev_spec {
	bool present;
	bool sva;	/* SVA enabled, as the device's driver would */
	u8 inst;
	s8 group;	/* a multi-device group, or -1 for one of its own */
	u32 max_pasids;
};

struct sva_model_spec {
	u8 ninst;
	u8 ndev;
	u8 nmm;
	struct sva_model_inst_spec inst[SVA_MODEL_MAX_INST];
	struct sva_model_dev_spec dev[SVA_MODEL_MAX_DEVS];
};

/* ---- the steps ---- */

enum sva_model_opcode {
	SVA_OP_BIND,		/* a: device, b: mm */
	SVA_OP_UNBIND,		/* a: device (its group), b: mm */
	SVA_OP_EXIT,		/* a: mm */
	SVA_OP_NEW_MM,		/* a: mm */
	SVA_OP_FAULT,		/* a: 1 device, 0 instance; b: which; c: site; d: error */
	SVA_OP_INVALIDATE,
	SVA_OP_BUSY,		/* a: device (its group), b: the mm whose PASID, c: handle */
	SVA_OP_UNBUSY,		/* a: device (its group) */
	SVA_OP_PAGE_REQ,	/* a: device, b: the mm whose PASID, c: page, d: write */
};

struct sva_model_step {
	u8 op;
	u8 a;
	u8 b;
	u8 c;
	u8 d;
};

static const int sva_model_errs[] = { -ENOMEM, -EIO, -ETIMEDOUT };

/* ---- the model: state written from the invariants ---- */

struct sva_model_call {
	u8 op;		/* enum fake_iommu_op */
	s8 inst;	/* instance index in the world */
	s8 dev;		/* device index, -1 for none */
	u32 pasid;
	int ret;
	int mm_count;
};

struct sva_model_mm {
	bool used;	/* the mm_struct exists: mm_count > 0 */
	bool live;	/* the test holds its mm_users reference */
	int count;	/* mm_count */
	u32 pasid;	/* 0: none, mm->iommu_mm is NULL */
	u8 paged;	/* pages of its mapping faulted in */
	u8 written;	/* of those, the ones written */
	u8 ndom;
	u8 dom[SVA_MODEL_MAX_DEVS];	/* sva_domains, newest first */
};

struct sva_model_dom {
	bool used;
	bool notifier;	/* the driver registered an mmu_notifier for it */
	u8 inst;	/* the instance that allocated it */
	u8 mm;
	unsigned int users;
	struct iommu_domain *ptr;	/* the kernel's, to compare with */
	unsigned int id;		/* its fake_iommu_domain_id() */
};

/* A handle: one (group, mm) attachment, with its references (I4). */
struct sva_model_bond {
	bool used;
	u8 gid;
	u8 mm;
	u8 dom;
	unsigned int refs;
};

/* A PASID of a group held by a paging domain: SVA gets -EBUSY (I8). */
struct sva_model_busy {
	bool used;
	bool with_handle;
	u8 dev;
	u32 pasid;
};

struct sva_model {
	const struct sva_model_spec *spec;
	u32 wide;	/* PASIDs observed: [1, wide) */
	u64 free0;	/* of those, the ones free when the world was built */
	int watched;	/* the mm whose mm_count the driver's free op records */
	struct sva_model_mm mm[SVA_MODEL_MAX_MMS];
	struct sva_model_dom dom[SVA_MODEL_MAX_DOMS];
	struct sva_model_bond bond[SVA_MODEL_MAX_BONDS];
	struct sva_model_busy busy[SVA_MODEL_MAX_DEVS];
	int fault_inst[SVA_MODEL_MAX_INST][FAKE_FAULT_NR];
	int fault_dev[SVA_MODEL_MAX_DEVS][FAKE_FAULT_NR];
	struct sva_model_call calls[SVA_MODEL_MAX_CALLS];
	unsigned int ncalls;
	bool calls_lost;
	/*
	 * The core's choices in this step, read from the kernel before the
	 * model runs the step: the PASID a new mm got (0: none), the mm's
	 * domains in the order it tried them, and the devices in the order
	 * it programmed them.
	 */
	u32 pick_pasid;
	bool bad_pasid;	/* the core picked a PASID it may not hand out */
	u8 npick_dom, npick_dev;
	u8 pick_dom[SVA_MODEL_MAX_DOMS];
	u8 pick_dev[SVA_MODEL_MAX_DEVS];
};

/* What one bind did, for the comparison and the statistics. */
struct sva_model_bind_out {
	int bond;
	bool again;	/* an existing handle, one more reference */
	bool shared;	/* an existing domain took the device */
	bool older;	/* not the newest one */
};

/* A domain the model attaches: an SVA domain, or a paging one (dom -1). */
struct sva_model_domref {
	int dom;
	u8 inst;
};

static bool sva_model_dev_ok(const struct sva_model_spec *s, unsigned int d)
{
	return d < s->ndev && s->dev[d].present;
}

/* The group of a device, named by its first present member. */
static unsigned int sva_model_gid(const struct sva_model_spec *s, unsigned int d)
{
	unsigned int e;

	if (s->dev[d].group < 0)
		return d;
	for (e = 0; e < d; e++)
		if (s->dev[e].present && s->dev[e].group == s->dev[d].group)
			return e;
	return d;
}

/* Where @x is in @picks: its index, or @n when it is not there. */
static unsigned int sva_model_pick_pos(const u8 *picks, unsigned int n, u8 x)
{
	unsigned int i;

	for (i = 0; i < n && picks[i] != x; i++)
		;
	return i;
}

/* The members of group @g, in probe order. */
static unsigned int sva_model_group(const struct sva_model_spec *s,
				    unsigned int g, u8 *out)
{
	unsigned int e, n = 0;

	for (e = 0; e < s->ndev; e++)
		if (s->dev[e].present && sva_model_gid(s, e) == g)
			out[n++] = e;
	return n;
}

/*
 * The members of group @g in the order the core programmed them in this
 * step, any order being correct (I13); those it did not reach follow.
 */
static unsigned int sva_model_members(const struct sva_model *m,
				      unsigned int g, u8 *out)
{
	unsigned int n = sva_model_group(m->spec, g, out), i, k = 0;
	u8 all[SVA_MODEL_MAX_DEVS];

	memcpy(all, out, n);
	for (i = 0; i < m->npick_dev; i++)
		if (sva_model_pick_pos(all, n, m->pick_dev[i]) < n)
			out[k++] = m->pick_dev[i];
	for (i = 0; i < n; i++)
		if (sva_model_pick_pos(m->pick_dev, m->npick_dev, all[i]) ==
		    m->npick_dev)
			out[k++] = all[i];
	return n;
}

static void sva_model_push(struct sva_model *m, enum fake_iommu_op op, int inst,
			   int dev, u32 pasid, int ret, int mm_count)
{
	if (m->ncalls == ARRAY_SIZE(m->calls)) {
		m->calls_lost = true;
		return;
	}
	m->calls[m->ncalls++] = (struct sva_model_call) {
		.op = op, .inst = inst, .dev = dev, .pasid = pasid,
		.ret = ret, .mm_count = mm_count,
	};
}

/* A PASID is free from an mm's __mmdrop() until the next first bind (I1). */
static u64 sva_model_free_pasids(const struct sva_model *m)
{
	u64 free = m->free0;
	unsigned int i;

	for (i = 0; i < SVA_MODEL_MAX_MMS; i++)
		if (m->mm[i].used && m->mm[i].pasid)
			free &= ~BIT_ULL(m->mm[i].pasid);
	return free;
}

/*
 * A new mm gets a free PASID in [1, max_pasids - 1] (I1), whichever the
 * allocator likes: the core's pick if it is one; else the lowest, to go on
 * with, and @m->bad_pasid set if the core picked another (a core that
 * picked none shows in its return value); 0 when there is none.
 */
static u32 sva_model_new_pasid(struct sva_model *m, u32 max_pasids)
{
	u32 limit = min(max_pasids, m->wide);
	u64 free = sva_model_free_pasids(m);

	free &= limit > 1 ? GENMASK_ULL(limit - 1, 1) : 0;
	if (!free)
		return 0;
	if (m->pick_pasid < limit && free & BIT_ULL(m->pick_pasid))
		return m->pick_pasid;
	m->bad_pasid = m->pick_pasid != 0;
	return __ffs64(free);
}

static int sva_model_find_bond(const struct sva_model *m, unsigned int g,
			       unsigned int mm)
{
	unsigned int i;

	for (i = 0; i < SVA_MODEL_MAX_BONDS; i++)
		if (m->bond[i].used && m->bond[i].gid == g && m->bond[i].mm == mm)
			return i;
	return -1;
}

static int sva_model_new_bond(struct sva_model *m, unsigned int g,
			      unsigned int mm, unsigned int dom)
{
	unsigned int i;

	for (i = 0; i < SVA_MODEL_MAX_BONDS; i++) {
		if (m->bond[i].used)
			continue;
		m->bond[i] = (struct sva_model_bond) {
			.used = true, .gid = g, .mm = mm, .dom = dom, .refs = 1,
		};
		return i;
	}
	return -1;
}

/* A PASID of a group holds one attachment at a time (I8). */
static bool sva_model_pasid_taken(const struct sva_model *m, unsigned int g,
				  u32 pasid)
{
	unsigned int i;

	if (m->busy[g].used && m->busy[g].pasid == pasid)
		return true;
	for (i = 0; i < SVA_MODEL_MAX_BONDS; i++)
		if (m->bond[i].used && m->bond[i].gid == g &&
		    m->mm[m->bond[i].mm].pasid == pasid)
			return true;
	return false;
}

/*
 * The fake driver fails the next call at a site when an instance or a
 * device was armed; both counters advance, the instance's error wins.
 */
static int sva_model_fault(struct sva_model *m, unsigned int d,
			   enum fake_iommu_fault_site site)
{
	unsigned int i = m->spec->dev[d].inst;
	int ierr = m->fault_inst[i][site], derr = m->fault_dev[d][site];

	m->fault_inst[i][site] = 0;
	m->fault_dev[d][site] = 0;
	return ierr ?: derr;
}

static int sva_model_dom_mm_count(const struct sva_model *m,
				  const struct sva_model_domref *r)
{
	return r->dom < 0 ? -1 : m->mm[m->dom[r->dom].mm].count;
}

/*
 * What the fake driver's set_dev_pasid() answers on device @e: an injected
 * failure first; an SVA domain on a device whose SVA is not enabled gets
 * -ENODEV; a share-own instance refuses an SVA domain that another
 * instance allocated with -EINVAL (fake-iommu.h).
 */
static int sva_model_set(struct sva_model *m, const struct sva_model_domref *r,
			 unsigned int e)
{
	const struct sva_model_dev_spec *ds = &m->spec->dev[e];
	int ret = sva_model_fault(m, e, FAKE_FAULT_SET_DEV_PASID);

	if (!ret && r->dom >= 0 && !ds->sva)
		ret = -ENODEV;
	if (!ret && r->dom >= 0 &&
	    m->spec->inst[ds->inst].policy == FAKE_IOMMU_SHARE_OWN &&
	    r->inst != ds->inst)
		ret = -EINVAL;
	return ret;
}

/* Attach a domain to @pasid of the group of device @d. */
static int sva_model_attach(struct sva_model *m, const struct sva_model_domref *r,
			    unsigned int d, u32 pasid)
{
	const struct sva_model_spec *s = m->spec;
	unsigned int g = sva_model_gid(s, d), n, i, k, ndone = 0;
	u8 members[SVA_MODEL_MAX_DEVS], done[SVA_MODEL_MAX_DEVS];
	int ret;

	/* A domain is offered only to the driver that owns it (I3, I8). */
	if (s->inst[r->inst].driver != s->inst[s->dev[d].inst].driver)
		return -EINVAL;
	n = sva_model_members(m, g, members);
	/*
	 * The PASID must fit every PASID-capable device of the group (I1, I13);
	 * a device without PASID support constrains nothing.
	 */
	for (i = 0; i < n; i++) {
		u32 max = s->dev[members[i]].max_pasids;

		if (max && pasid >= max)
			return -EINVAL;
	}
	if (sva_model_pasid_taken(m, g, pasid))
		return -EBUSY;
	/*
	 * Each PASID-capable device of the group is set in turn, in any order
	 * (I13); when one fails, exactly those that succeeded before it are
	 * undone (I12).
	 */
	for (i = 0; i < n; i++) {
		unsigned int e = members[i];

		if (!s->dev[e].max_pasids)
			continue;
		ret = sva_model_set(m, r, e);
		sva_model_push(m, FAKE_OP_SET_DEV_PASID, s->dev[e].inst, e, pasid,
			       ret, sva_model_dom_mm_count(m, r));
		if (ret) {
			for (k = 0; k < ndone; k++)
				sva_model_push(m, FAKE_OP_REMOVE_DEV_PASID,
					       s->dev[done[k]].inst, done[k], pasid,
					       0, sva_model_dom_mm_count(m, r));
			return ret;
		}
		done[ndone++] = e;
	}
	return 0;
}

/* Every PASID-capable device of the group is detached, once (I5, I12). */
static void sva_model_detach(struct sva_model *m, const struct sva_model_domref *r,
			     unsigned int g, u32 pasid)
{
	const struct sva_model_spec *s = m->spec;
	u8 members[SVA_MODEL_MAX_DEVS];
	unsigned int n = sva_model_members(m, g, members), i;

	for (i = 0; i < n; i++)
		if (s->dev[members[i]].max_pasids)
			sva_model_push(m, FAKE_OP_REMOVE_DEV_PASID,
				       s->dev[members[i]].inst, members[i], pasid,
				       0, sva_model_dom_mm_count(m, r));
}

/* __mmdrop(): the mm_struct goes, and only now its PASID (I1, I6). */
static void sva_model_mm_drop(struct sva_model *m, unsigned int slot)
{
	struct sva_model_mm *mm = &m->mm[slot];

	if (mm->count)
		return;
	*mm = (struct sva_model_mm) { };
}

/*
 * Freeing a domain drops its mm_count before the driver's free op runs
 * (which must not need the mm), then the driver's notifier, which holds an
 * mm_count of its own, goes with the domain (I2, I6, I9).
 */
static void sva_model_dom_free(struct sva_model *m, unsigned int di)
{
	struct sva_model_dom *dom = &m->dom[di];
	struct sva_model_mm *mm = &m->mm[dom->mm];

	mm->count--;
	sva_model_push(m, FAKE_OP_DOMAIN_FREE, dom->inst, -1, IOMMU_NO_PASID, 0,
		       m->watched == dom->mm ? mm->count : -1);
	if (dom->notifier)
		mm->count--;
	dom->used = false;
	sva_model_mm_drop(m, dom->mm);
}

static int sva_model_new_dom(struct sva_model *m, unsigned int inst,
			     unsigned int slot, bool notifier)
{
	unsigned int i;

	for (i = 0; i < SVA_MODEL_MAX_DOMS; i++) {
		if (m->dom[i].used)
			continue;
		m->dom[i] = (struct sva_model_dom) {
			.used = true, .notifier = notifier, .inst = inst,
			.mm = slot,
		};
		return i;
	}
	return -1;
}

/* The model of iommu_sva_bind_device(dev @d, mm @slot): the error, or 0. */
static int sva_model_bind(struct sva_model *m, unsigned int d, unsigned int slot,
			  struct sva_model_bind_out *out)
{
	const struct sva_model_spec *s = m->spec;
	const struct sva_model_dev_spec *ds = &s->dev[d];
	struct sva_model_mm *mm = &m->mm[slot];
	unsigned int g = sva_model_gid(s, d), i;
	u8 order[SVA_MODEL_MAX_DEVS];
	struct sva_model_domref r;
	u32 pasid = mm->pasid;
	unsigned int n = 0;
	bool notifier;
	int ret, di;

	*out = (struct sva_model_bind_out) { .bond = -1 };
	if (pasid) {
		/* A device that cannot encode the mm's PASID (I8) */
		if (pasid >= ds->max_pasids)
			return -EOVERFLOW;
	} else {
		/*
		 * The first bind gives the mm its PASID (I1), which it keeps
		 * even when this bind fails (I7). The device's range may have
		 * none left, or none at all without PASID support (I8).
		 */
		pasid = sva_model_new_pasid(m, ds->max_pasids);
		if (!pasid)
			return -ENOSPC;
		mm->pasid = pasid;
	}
	/* The same (device group, mm) again: the same handle, one more ref (I4) */
	out->bond = sva_model_find_bond(m, g, slot);
	if (out->bond >= 0) {
		m->bond[out->bond].refs++;
		out->again = true;
		return 0;
	}
	/* The PASID is attached to a paging domain with an attach handle (I8) */
	if (m->busy[g].used && m->busy[g].with_handle && m->busy[g].pasid == pasid)
		return -EBUSY;
	/*
	 * A domain of the mm that the device's driver accepts is shared (I3):
	 * one more user, no new mm_count (I2). The core may try them in any
	 * order, but a new domain only after each was refused: the model
	 * takes them in the order the core tried them, then the others.
	 */
	for (i = 0; i < m->npick_dom; i++)
		if (sva_model_pick_pos(mm->dom, mm->ndom, m->pick_dom[i]) < mm->ndom)
			order[n++] = m->pick_dom[i];
	for (i = 0; i < mm->ndom; i++)
		if (sva_model_pick_pos(order, n, mm->dom[i]) == n)
			order[n++] = mm->dom[i];
	for (i = 0; i < n; i++) {
		di = order[i];
		r = (struct sva_model_domref) { .dom = di, .inst = m->dom[di].inst };
		if (sva_model_attach(m, &r, d, pasid))
			continue;
		m->dom[di].users++;
		out->bond = sva_model_new_bond(m, g, slot, di);
		out->shared = true;
		out->older = di != mm->dom[0];
		return out->bond < 0 ? -ENOSPC : 0;
	}
	/* Else a new domain from this device's instance, same PASID (I3) */
	ret = sva_model_fault(m, d, FAKE_FAULT_DOMAIN_ALLOC);
	notifier = !ret && s->inst[ds->inst].notifier;
	sva_model_push(m, FAKE_OP_DOMAIN_ALLOC_SVA, ds->inst, d, IOMMU_NO_PASID, ret,
		       mm->count + notifier);
	if (ret)
		return ret;
	di = sva_model_new_dom(m, ds->inst, slot, notifier);
	if (di < 0)
		return -ENOSPC;
	/* The live domain holds one mm_count, and its notifier one (I2) */
	mm->count += 1 + notifier;
	r = (struct sva_model_domref) { .dom = di, .inst = ds->inst };
	ret = sva_model_attach(m, &r, d, pasid);
	if (ret) {
		/* A failed bind leaves no domain and no extra mm_count (I7) */
		sva_model_dom_free(m, di);
		return ret;
	}
	m->dom[di].users = 1;
	memmove(&mm->dom[1], &mm->dom[0], mm->ndom);
	mm->dom[0] = di;
	mm->ndom++;
	out->bond = sva_model_new_bond(m, g, slot, di);
	return out->bond < 0 ? -ENOSPC : 0;
}

/* The model of iommu_sva_unbind_device() of one reference of @b. */
static void sva_model_unbind(struct sva_model *m, unsigned int b)
{
	struct sva_model_bond *bond = &m->bond[b];
	unsigned int di = bond->dom, slot = bond->mm, i;
	struct sva_model_mm *mm = &m->mm[slot];
	struct sva_model_domref r = { .dom = di, .inst = m->dom[di].inst };

	/* Only the last of k unbinds detaches (I4) */
	if (--bond->refs)
		return;
	/* The group is detached at its own last unbind (I5) */
	sva_model_detach(m, &r, bond->gid, mm->pasid);
	bond->used = false;
	/* The domain goes with its last user, off the mm's list first (I6) */
	if (--m->dom[di].users)
		return;
	for (i = 0; i < mm->ndom; i++)
		if (mm->dom[i] == di)
			break;
	if (i < mm->ndom) {
		memmove(&mm->dom[i], &mm->dom[i + 1], mm->ndom - i - 1);
		mm->ndom--;
	}
	sva_model_dom_free(m, di);
}

/* The process exits: mm_users goes, domains keep the mm_struct (I9). */
static void sva_model_exit(struct sva_model *m, unsigned int slot)
{
	m->mm[slot].live = false;
	m->mm[slot].count--;
	sva_model_mm_drop(m, slot);
}

/*
 * An invalidation of a kernel range reaches each mm that has a domain
 * exactly once, through the notifiers its domains registered (I11); an mm
 * whose process exited has no notifiers left (exit_mmap()).
 */
static void sva_model_invalidate(struct sva_model *m)
{
	unsigned int i, k;

	for (i = 0; i < SVA_MODEL_MAX_MMS; i++) {
		const struct sva_model_mm *mm = &m->mm[i];

		if (!mm->used || !mm->live)
			continue;
		for (k = 0; k < mm->ndom; k++)
			if (m->dom[mm->dom[k]].notifier)
				sva_model_push(m, FAKE_OP_INVALIDATE,
					       m->dom[mm->dom[k]].inst, -1,
					       IOMMU_NO_PASID, 0, mm->count);
	}
}

/* A paging domain of device @d's instance takes @pasid of its group. */
static int sva_model_busy(struct sva_model *m, unsigned int d, u32 pasid,
			  bool with_handle)
{
	const struct sva_model_spec *s = m->spec;
	struct sva_model_domref r = { .dom = -1, .inst = s->dev[d].inst };
	unsigned int g = sva_model_gid(s, d);
	int ret;

	ret = sva_model_fault(m, d, FAKE_FAULT_DOMAIN_ALLOC);
	sva_model_push(m, FAKE_OP_DOMAIN_ALLOC_PAGING, r.inst, d, IOMMU_NO_PASID,
		       ret, -1);
	if (ret)
		return ret;
	ret = sva_model_attach(m, &r, d, pasid);
	if (ret) {
		sva_model_push(m, FAKE_OP_DOMAIN_FREE, r.inst, -1, IOMMU_NO_PASID,
			       0, -1);
		return ret;
	}
	m->busy[g] = (struct sva_model_busy) {
		.used = true, .with_handle = with_handle, .dev = d, .pasid = pasid,
	};
	return 0;
}

static void sva_model_unbusy(struct sva_model *m, unsigned int g)
{
	struct sva_model_busy *busy = &m->busy[g];
	struct sva_model_domref r = {
		.dom = -1, .inst = m->spec->dev[busy->dev].inst,
	};

	sva_model_detach(m, &r, g, busy->pasid);
	sva_model_push(m, FAKE_OP_DOMAIN_FREE, r.inst, -1, IOMMU_NO_PASID, 0, -1);
	busy->used = false;
}

/*
 * A page request of device a on the PASID of mm b, for page c of the mm's
 * mapping (SVA_MODEL_PAGES: past its end), a write if d: served only
 * through the mm's SVA domain on the device's group, while the mm has
 * users, inside the mapping; the group is answered once, SUCCESS when
 * served, else INVALID (I14, I15).
 */
static int sva_model_page_req(struct sva_model *m,
			      const struct sva_model_step *st)
{
	struct sva_model_mm *mm = &m->mm[st->b];

	if (sva_model_find_bond(m, sva_model_gid(m->spec, st->a), st->b) < 0 ||
	    !mm->live || st->c >= SVA_MODEL_PAGES)
		return IOMMU_PAGE_RESP_INVALID;
	mm->paged |= BIT(st->c);
	if (st->d)
		mm->written |= BIT(st->c);
	return IOMMU_PAGE_RESP_SUCCESS;
}

/* Whether @st can run in the model's state. */
static bool sva_model_applicable(const struct sva_model *m,
				 const struct sva_model_step *st)
{
	const struct sva_model_spec *s = m->spec;

	switch (st->op) {
	case SVA_OP_BIND:
		return sva_model_dev_ok(s, st->a) && st->b < SVA_MODEL_MAX_MMS &&
		       m->mm[st->b].live;
	case SVA_OP_UNBIND:
		return sva_model_dev_ok(s, st->a) && st->b < SVA_MODEL_MAX_MMS &&
		       sva_model_find_bond(m, sva_model_gid(s, st->a), st->b) >= 0;
	case SVA_OP_EXIT:
		return st->a < SVA_MODEL_MAX_MMS && m->mm[st->a].live;
	case SVA_OP_NEW_MM:
		return st->a < SVA_MODEL_MAX_MMS && !m->mm[st->a].used;
	case SVA_OP_FAULT:
		return st->c < FAKE_FAULT_NR && st->d < ARRAY_SIZE(sva_model_errs) &&
		       (st->a ? sva_model_dev_ok(s, st->b) :
			st->b < s->ninst && s->inst[st->b].present);
	case SVA_OP_INVALIDATE:
		return true;
	case SVA_OP_BUSY:
		return sva_model_dev_ok(s, st->a) && st->b < SVA_MODEL_MAX_MMS &&
		       m->mm[st->b].used && m->mm[st->b].pasid &&
		       !m->busy[sva_model_gid(s, st->a)].used;
	case SVA_OP_UNBUSY:
		return sva_model_dev_ok(s, st->a) &&
		       m->busy[sva_model_gid(s, st->a)].used;
	case SVA_OP_PAGE_REQ:
		return sva_model_dev_ok(s, st->a) && s->dev[st->a].max_pasids &&
		       st->b < SVA_MODEL_MAX_MMS && m->mm[st->b].pasid &&
		       st->c <= SVA_MODEL_PAGES;
	}
	return false;
}

/* ---- the kernel side ---- */

/* A handle the test holds, with the references it took. */
struct sva_model_held {
	struct iommu_sva *handle;
	unsigned int refs;
	u8 gid;
	u8 mm;
};

struct sva_model_world {
	struct kunit res;	/* owns the instances, groups and devices */
	struct kunit *test;
	const struct sva_model_spec *spec;
	struct fake_iommu *iommu[SVA_MODEL_MAX_INST];
	int inst_id[SVA_MODEL_MAX_INST];
	struct fake_iommu_group *group[SVA_MODEL_MAX_GROUPS];
	struct device *dev[SVA_MODEL_MAX_DEVS];
	struct device *scan_dev;
	struct mm_struct *mm[SVA_MODEL_MAX_MMS];
	bool mm_held[SVA_MODEL_MAX_MMS];
	unsigned long va[SVA_MODEL_MAX_MMS];	/* its mapping, 0: none yet */
	u32 grpid;	/* the last page request group */
	struct sva_model_held held[SVA_MODEL_MAX_BONDS];
	struct iommu_domain *busy_dom[SVA_MODEL_MAX_DEVS];
	struct iommu_attach_handle *busy_handle[SVA_MODEL_MAX_DEVS];
	u8 busy_dev[SVA_MODEL_MAX_DEVS];
	u32 busy_pasid[SVA_MODEL_MAX_DEVS];
	int live0;
	bool verbose;
	unsigned int *steps_run;
	struct sva_model m;
	/* the model's calls of a step that a recorded call matched */
	bool call_matched[SVA_MODEL_MAX_CALLS];
	char why[SVA_MODEL_MSG];
};

static __printf(2, 3) bool sva_model_diff(struct sva_model_world *w,
					  const char *fmt, ...)
{
	va_list args;

	if (w->why[0])
		return false;
	va_start(args, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, args);
	va_end(args);
	return false;
}

static struct sva_model_held *sva_model_held_find(struct sva_model_world *w,
						  unsigned int g, unsigned int mm)
{
	unsigned int i;

	for (i = 0; i < SVA_MODEL_MAX_BONDS; i++)
		if (w->held[i].refs && w->held[i].gid == g && w->held[i].mm == mm)
			return &w->held[i];
	return NULL;
}

/* Note a handle the kernel returned; NULL when the ledger is full. */
static struct sva_model_held *sva_model_hold(struct sva_model_world *w,
					     struct iommu_sva *handle,
					     unsigned int g, unsigned int mm)
{
	struct sva_model_held *free = NULL;
	unsigned int i;

	for (i = 0; i < SVA_MODEL_MAX_BONDS; i++) {
		if (w->held[i].refs && w->held[i].handle == handle) {
			w->held[i].refs++;
			return &w->held[i];
		}
		if (!w->held[i].refs && !free)
			free = &w->held[i];
	}
	if (free)
		*free = (struct sva_model_held) {
			.handle = handle, .refs = 1, .gid = g, .mm = mm,
		};
	return free;
}

/*
 * Every PASID of [1, wide) the global allocator could hand out now: take
 * them all, note them, and give them back.
 */
static u64 sva_model_scan_pasids(struct device *dev)
{
	u64 free = 0;
	ioasid_t pasid;
	unsigned int i;

	while ((pasid = iommu_alloc_global_pasid(dev)) != IOMMU_PASID_INVALID) {
		if (pasid >= 64) {
			iommu_free_global_pasid(pasid);
			break;
		}
		free |= BIT_ULL(pasid);
	}
	for (i = 0; i < 64; i++)
		if (free & BIT_ULL(i))
			iommu_free_global_pasid(i);
	return free;
}

/* ---- building and tearing down a world ---- */

/* A new process: an mm with no iommu_mm (I10), and no mapping yet */
static bool sva_model_mm_alloc(struct sva_model_world *w, unsigned int slot)
{
	w->mm[slot] = mm_alloc();
	w->mm_held[slot] = !!w->mm[slot];
	w->va[slot] = 0;
	if (w->mm[slot])
		w->m.mm[slot] = (struct sva_model_mm) {
			.used = true, .live = true, .count = 1,
		};
	return w->mm[slot];
}

static void sva_model_world_destroy(struct sva_model_world *w)
{
	struct kunit *running = current->kunit_test;
	unsigned int i;

	/* What the kernel really holds, whatever the model says. */
	for (i = 0; i < SVA_MODEL_MAX_BONDS; i++)
		while (w->held[i].refs) {
			iommu_sva_unbind_device(w->held[i].handle);
			w->held[i].refs--;
		}
	for (i = 0; i < SVA_MODEL_MAX_DEVS; i++) {
		if (!w->busy_dom[i])
			continue;
		iommu_detach_device_pasid(w->busy_dom[i], w->dev[w->busy_dev[i]],
					  w->busy_pasid[i]);
		iommu_domain_free(w->busy_dom[i]);
		kfree(w->busy_handle[i]);
	}
	for (i = 0; i < SVA_MODEL_MAX_MMS; i++)
		if (w->mm_held[i])
			mmput(w->mm[i]);
	/* kunit_cleanup() forgets the running test: put it back. */
	kunit_cleanup(&w->res);
	current->kunit_test = running;
	kfree(w);
}

KUNIT_DEFINE_ACTION_WRAPPER(sva_model_world_release, sva_model_world_destroy,
			    struct sva_model_world *);

/*
 * The instances, groups and devices of one world belong to a struct kunit
 * of their own, so that the case can build and release one world after
 * another (each seed, and each replay, gets a fresh one); an action on
 * the running test releases a world the case did not get to.
 */
static struct sva_model_world *sva_model_world_build(struct kunit *test,
						     const struct sva_model_spec *s,
						     int *err)
{
	struct sva_model_world *w = kzalloc_obj(*w);
	unsigned int i;

	*err = -ENOMEM;
	if (!w)
		return NULL;
	/* What the world's fake IOMMUs print goes to the test's own log. */
	kunit_init_test(&w->res, test->name, test->log);
	w->test = test;
	w->spec = s;
	w->m.spec = s;
	w->m.watched = -1;

	for (i = 0; i < s->ninst; i++) {
		struct fake_iommu_config cfg = {
			.policy = s->inst[i].policy,
			.driver = s->inst[i].driver,
			.mm_notifier = s->inst[i].notifier,
		};

		if (!s->inst[i].present)
			continue;
		w->iommu[i] = fake_iommu_kunit_create(&w->res, &cfg);
		if (IS_ERR(w->iommu[i])) {
			*err = PTR_ERR(w->iommu[i]);
			goto err;
		}
		w->inst_id[i] = fake_iommu_id(w->iommu[i]);
	}
	for (i = 0; i < s->ndev; i++) {
		const struct sva_model_dev_spec *ds = &s->dev[i];
		struct fake_iommu_group *group = NULL;

		if (!ds->present)
			continue;
		*err = -EINVAL;
		if (!s->inst[ds->inst].present)
			goto err;
		if (ds->group >= 0) {
			if (!w->group[ds->group])
				w->group[ds->group] = fake_iommu_kunit_group(&w->res);
			group = w->group[ds->group];
			if (IS_ERR(group)) {
				*err = PTR_ERR(group);
				w->group[ds->group] = NULL;
				goto err;
			}
		}
		w->dev[i] = fake_iommu_kunit_add_device(&w->res, w->iommu[ds->inst],
							group, ds->max_pasids);
		if (IS_ERR(w->dev[i])) {
			*err = PTR_ERR(w->dev[i]);
			w->dev[i] = NULL;
			goto err;
		}
		*err = -EINVAL;
		if (!w->dev[i]->iommu_group ||
		    w->dev[i]->iommu->max_pasids != ds->max_pasids)
			goto err;
		if (ds->sva) {
			*err = fake_iommu_dev_enable_sva(w->dev[i]);
			if (*err)
				goto err;
		}
		if (ds->max_pasids > w->m.wide) {
			w->m.wide = ds->max_pasids;
			w->scan_dev = w->dev[i];
		}
	}
	*err = -ENOMEM;
	for (i = 0; i < s->nmm; i++)
		if (!sva_model_mm_alloc(w, i))
			goto err;
	if (w->scan_dev)
		w->m.free0 = sva_model_scan_pasids(w->scan_dev) &
			     GENMASK_ULL(w->m.wide - 1, 1);
	w->live0 = fake_iommu_live_domains(&w->res);
	*err = kunit_add_action_or_reset(test, sva_model_world_release, w);
	return *err ? NULL : w;

err:
	sva_model_world_destroy(w);
	return NULL;
}

/* ---- comparing the model with the kernel ---- */

/* The world's index of the device a call names, or -1 */
static int sva_model_dev_index(const struct sva_model_world *w,
			       const struct fake_iommu_call *c)
{
	int d;

	for (d = w->spec->ndev - 1; d >= 0; d--)
		if (w->dev[d] && !strcmp(dev_name(w->dev[d]), c->dev))
			break;
	return d;
}

/*
 * The core's choices in the step it just ran (struct sva_model), from the
 * driver's record and @slot's mm, for the model to follow and check.
 */
static void sva_model_read_picks(struct sva_model_world *w, int slot)
{
	struct sva_model *m = &w->m;
	const struct fake_iommu_call *log, *c;
	struct iommu_mm_data *iommu_mm;
	unsigned int i, k, n;
	int d;

	log = fake_iommu_log(&w->res, &n);
	m->bad_pasid = false;
	iommu_mm = slot >= 0 && w->mm[slot] ? READ_ONCE(w->mm[slot]->iommu_mm) :
		   NULL;
	m->pick_pasid = iommu_mm ? iommu_mm->pasid : 0;
	for (i = 0; i < n; i++) {
		c = &log[i];
		if (c->op != FAKE_OP_SET_DEV_PASID)
			continue;
		d = sva_model_dev_index(w, c);
		if (d >= 0 && sva_model_pick_pos(m->pick_dev, m->npick_dev, d) ==
		    m->npick_dev)
			m->pick_dev[m->npick_dev++] = d;
		for (k = 0; k < SVA_MODEL_MAX_DOMS; k++)
			if (m->dom[k].used && m->dom[k].ptr &&
			    m->dom[k].id == c->domain)
				break;
		if (k < SVA_MODEL_MAX_DOMS &&
		    sva_model_pick_pos(m->pick_dom, m->npick_dom, k) == m->npick_dom)
			m->pick_dom[m->npick_dom++] = k;
	}
}

/* A recorded call, with the world's names for instances and devices */
static void sva_model_call_str(const struct sva_model_world *w,
			       const struct fake_iommu_call *c, char *buf,
			       size_t len)
{
	int i, d = sva_model_dev_index(w, c);

	for (i = w->spec->ninst - 1; i >= 0; i--)
		if (w->iommu[i] && w->inst_id[i] == c->instance)
			break;
	snprintf(buf, len, "%s iommu[%d] dev[%d] pasid %d ret %d mm_count %d",
		 fake_iommu_op_name(c->op), i, d,
		 c->pasid == IOMMU_NO_PASID ? -1 : (int)c->pasid, c->ret,
		 c->mm_count);
}

/* The model's call as the fake driver's record would show it. */
static void sva_model_call_rec(const struct sva_model_world *w,
			       const struct sva_model_call *mc,
			       struct fake_iommu_call *c)
{
	*c = (struct fake_iommu_call) {
		.op = mc->op, .instance = w->inst_id[mc->inst], .pasid = mc->pasid,
		.ret = mc->ret, .mm_count = mc->mm_count,
	};
	if (mc->dev >= 0)
		strscpy(c->dev, dev_name(w->dev[mc->dev]), sizeof(c->dev));
}

static bool sva_model_call_eq(const struct fake_iommu_call *a,
			      const struct fake_iommu_call *b)
{
	return a->op == b->op && a->instance == b->instance &&
	       !strcmp(a->dev, b->dev) && a->pasid == b->pasid &&
	       a->ret == b->ret && a->mm_count == b->mm_count;
}

/*
 * The calls the model predicts: not the fake driver's IO page fault
 * bookkeeping, which the iommu_sva_iopf suite checks, nor the kernel's
 * own invalidations.
 */
static bool sva_model_ours(const struct fake_iommu_call *c)
{
	switch (c->op) {
	case FAKE_OP_INVALIDATE:
		return c->start == SVA_MODEL_KVA_START &&
		       c->end == SVA_MODEL_KVA_END;
	case FAKE_OP_IOPF_ENABLE:
	case FAKE_OP_IOPF_DISABLE:
	case FAKE_OP_IOPF_DRAIN:
	case FAKE_OP_PAGE_RESPONSE:
	case FAKE_OP_RELEASE_PASID:
	case FAKE_OP_RELEASE_DEVICE:
		return false;
	default:
		return true;
	}
}

/*
 * The order of a step's driver calls that the design fixes: none for a
 * domain after the driver freed it (I6). The rest of the order is the
 * core's business; the mm_count each call saw stands for mmgrab() before
 * the driver gets the domain and mmdrop() before it frees it (I2, I9).
 */
static bool sva_model_check_order(struct sva_model_world *w)
{
	const struct fake_iommu_call *log, *c, *f;
	unsigned int i, k, n;
	char a[128];

	log = fake_iommu_log(&w->res, &n);
	for (i = 0; i < n; i++) {
		c = &log[i];
		if (!c->domain)
			continue;
		for (k = 0; k < i; k++) {
			f = &log[k];
			if (f->op != FAKE_OP_DOMAIN_FREE || f->domain != c->domain)
				continue;
			sva_model_call_str(w, c, a, sizeof(a));
			return sva_model_diff(w, "call #%u after its domain's free (#%u): %s",
					      i, k, a);
		}
	}
	return true;
}

/*
 * Checks the driver calls of the step as a set, each with the mm_count it
 * saw (I2, I9): the order of a group's devices (I13) and of the mms on
 * the core's list (I11) is not the model's business.
 */
static bool sva_model_check_calls(struct sva_model_world *w)
{
	struct sva_model *m = &w->m;
	const struct fake_iommu_call *log, *c;
	bool *matched = w->call_matched;
	struct fake_iommu_call want;
	unsigned int i, j, n;
	char a[128];

	if (m->calls_lost)
		return sva_model_diff(w, "more than %u driver calls in one step",
				      SVA_MODEL_MAX_CALLS);
	memset(w->call_matched, 0, sizeof(w->call_matched));
	log = fake_iommu_log(&w->res, &n);
	for (i = 0; i < n; i++) {
		c = &log[i];
		if (!sva_model_ours(c))
			continue;
		for (j = 0; j < m->ncalls; j++) {
			if (matched[j])
				continue;
			sva_model_call_rec(w, &m->calls[j], &want);
			if (sva_model_call_eq(&want, c))
				break;
		}
		if (j == m->ncalls) {
			sva_model_call_str(w, c, a, sizeof(a));
			return sva_model_diff(w, "driver call #%u not in the model: %s", i, a);
		}
		matched[j] = true;
	}
	for (j = 0; j < m->ncalls; j++) {
		if (matched[j])
			continue;
		sva_model_call_rec(w, &m->calls[j], &want);
		sva_model_call_str(w, &want, a, sizeof(a));
		return sva_model_diff(w, "driver call missing: %s", a);
	}
	return sva_model_check_order(w);
}

/* Handles and domains (I3, I4, I5) */
static bool sva_model_check_bonds(struct sva_model_world *w)
{
	struct sva_model *m = &w->m;
	unsigned int i;

	for (i = 0; i < SVA_MODEL_MAX_BONDS; i++) {
		const struct sva_model_bond *bond = &m->bond[i];
		const struct sva_model_dom *dom = &m->dom[bond->dom];
		struct sva_model_held *held;
		struct iommu_domain *domain;

		if (!bond->used)
			continue;
		held = sva_model_held_find(w, bond->gid, bond->mm);
		if (!held)
			return sva_model_diff(w, "no handle held for dev[%u] mm[%u]",
					      bond->gid, bond->mm);
		/* One reference per bind not yet unbound (I4) */
		if (refcount_read(&held->handle->users) != bond->refs ||
		    held->refs != bond->refs)
			return sva_model_diff(w, "dev[%u] mm[%u]: handle users %u, model %u",
					      bond->gid, bond->mm,
					      refcount_read(&held->handle->users),
					      bond->refs);
		domain = held->handle->handle.domain;
		if (domain != dom->ptr)
			return sva_model_diff(w, "dev[%u] mm[%u]: handle not on the shared domain",
					      bond->gid, bond->mm);
		/* The domain's users counts the devices (groups) attached (I3, I5) */
		if (domain->users != dom->users)
			return sva_model_diff(w, "dev[%u] mm[%u]: domain users %d, model %u",
					      bond->gid, bond->mm, domain->users,
					      dom->users);
		if (domain->type != IOMMU_DOMAIN_SVA || domain->mm != w->mm[bond->mm])
			return sva_model_diff(w, "dev[%u] mm[%u]: domain type %u or mm wrong",
					      bond->gid, bond->mm, domain->type);
		/* One PASID per mm, on each of its handles (I1) */
		if (iommu_sva_get_pasid(held->handle) != m->mm[bond->mm].pasid)
			return sva_model_diff(w, "dev[%u] mm[%u]: handle PASID %u, model %u",
					      bond->gid, bond->mm,
					      iommu_sva_get_pasid(held->handle),
					      m->mm[bond->mm].pasid);
	}
	return true;
}

/* mm_count, PASID and domain list of each mm (I1, I2, I3, I6, I10) */
static bool sva_model_check_mms(struct sva_model_world *w)
{
	struct sva_model *m = &w->m;
	unsigned int i, j, k;
	u32 seen;

	for (i = 0; i < SVA_MODEL_MAX_MMS; i++) {
		const struct sva_model_mm *mm = &m->mm[i];
		struct iommu_mm_data *iommu_mm;
		struct iommu_domain *domain;
		int count;

		if (!mm->used)
			continue;
		/* The test's mm_users, one per domain, one per notifier (I2) */
		count = atomic_read(&w->mm[i]->mm_count);
		if (count != mm->count)
			return sva_model_diff(w, "mm_count of mm[%u]: kernel %d, model %d",
					      i, count, mm->count);
		/* An iommu_mm from the first bind until __mmdrop() (I1, I10) */
		iommu_mm = READ_ONCE(w->mm[i]->iommu_mm);
		if (!iommu_mm != !mm->pasid)
			return sva_model_diff(w, "mm[%u] %s an iommu_mm, the model %s",
					      i, iommu_mm ? "has" : "has no",
					      mm->pasid ? "has one" : "has none");
		if (!iommu_mm)
			continue;
		if (iommu_mm->pasid != mm->pasid)
			return sva_model_diff(w, "PASID of mm[%u]: kernel %u, model %u",
					      i, iommu_mm->pasid, mm->pasid);
		/* Its domains, each on the list once, in any order (I3, I6) */
		k = 0;
		seen = 0;
		list_for_each_entry(domain, &iommu_mm->sva_domains, next) {
			if (k++ >= mm->ndom)
				return sva_model_diff(w,
						      "mm[%u] has more than the %u domains of the model",
						      i, mm->ndom);
			for (j = 0; j < mm->ndom; j++)
				if (domain == m->dom[mm->dom[j]].ptr)
					break;
			if (j == mm->ndom || seen & BIT(j))
				return sva_model_diff(w, "domain %u on the list of mm[%u] is %s",
						      k - 1, i, j == mm->ndom ?
						      "not one of the model's" :
						      "on the list twice");
			seen |= BIT(j);
		}
		if (k != mm->ndom)
			return sva_model_diff(w, "mm[%u] has %u domains, the model %u",
					      i, k, mm->ndom);
	}
	return true;
}

/* pasid_array entries and programmed PASIDs (I7, I12, I13) */
static bool sva_model_check_pasids(struct sva_model_world *w)
{
	const struct sva_model_spec *s = w->spec;
	struct sva_model *m = &w->m;
	unsigned int d, i, want;

	for (d = 0; d < s->ndev; d++) {
		unsigned int g;

		if (!s->dev[d].present)
			continue;
		g = sva_model_gid(s, d);
		/* An SVA entry exactly while the group is bound (I7, I13) */
		for (i = 0; i < SVA_MODEL_MAX_MMS; i++) {
			struct iommu_attach_handle *h;
			struct sva_model_held *held;
			void *expect;
			u32 pasid = m->mm[i].pasid;

			if (g != d || !m->mm[i].used || !pasid)
				continue;
			held = sva_model_held_find(w, g, i);
			h = iommu_attach_handle_get(w->dev[d]->iommu_group, pasid,
						    IOMMU_DOMAIN_SVA);
			if (sva_model_find_bond(m, g, i) >= 0 && held)
				expect = &held->handle->handle;
			else if (m->busy[g].used && m->busy[g].with_handle &&
				 m->busy[g].pasid == pasid)
				expect = ERR_PTR(-EBUSY);
			else
				expect = ERR_PTR(-ENOENT);
			if ((void *)h != expect)
				return sva_model_diff(w,
						      "group of dev[%u], PASID %u of mm[%u]: attach handle %s",
						      d, pasid, i,
						      IS_ERR(h) ? "missing" :
						      "present or wrong");
		}
		if (!s->dev[d].max_pasids)
			continue;
		/* What the driver has set is what the model attached (I12) */
		want = m->busy[g].used;
		for (i = 0; i < SVA_MODEL_MAX_BONDS; i++) {
			const struct sva_model_bond *bond = &m->bond[i];

			if (!bond->used || bond->gid != g)
				continue;
			want++;
			if (!fake_iommu_dev_pasid_set(w->dev[d], m->mm[bond->mm].pasid))
				return sva_model_diff(w, "dev[%u]: PASID %u of mm[%u] not set",
						      d, m->mm[bond->mm].pasid, bond->mm);
		}
		if (fake_iommu_dev_pasids_set(w->dev[d]) != want)
			return sva_model_diff(w, "dev[%u]: %u PASIDs set, model %u", d,
					      fake_iommu_dev_pasids_set(w->dev[d]), want);
	}
	return true;
}

/* After every step: the model and the kernel must agree on everything. */
static bool sva_model_check(struct sva_model_world *w)
{
	struct sva_model *m = &w->m;
	unsigned int i, live = 0;
	u64 free, want;

	if (fake_iommu_violations(&w->res))
		return sva_model_diff(w, "the core broke the driver contract (see the log)");
	if (!sva_model_check_calls(w) || !sva_model_check_bonds(w) ||
	    !sva_model_check_mms(w) || !sva_model_check_pasids(w))
		return false;
	for (i = 0; i < SVA_MODEL_MAX_DOMS; i++)
		live += m->dom[i].used;
	for (i = 0; i < SVA_MODEL_MAX_DEVS; i++)
		live += m->busy[i].used;
	/* Domains are freed exactly when the model frees them (I6, I7) */
	if (fake_iommu_live_domains(&w->res) - w->live0 != (int)live)
		return sva_model_diff(w, "%d domains alive, model %u",
				      fake_iommu_live_domains(&w->res) - w->live0, live);
	if (!w->scan_dev)
		return true;
	/* A PASID is allocated from the first bind until __mmdrop(), no longer (I1) */
	free = sva_model_scan_pasids(w->scan_dev) & GENMASK_ULL(m->wide - 1, 1);
	want = sva_model_free_pasids(m);
	if (free != want) {
		u32 p = __ffs64(free ^ want);

		return sva_model_diff(w, "PASID %u is %s, the model has it %s", p,
				      free & BIT_ULL(p) ? "free" : "allocated",
				      want & BIT_ULL(p) ? "free" : "allocated");
	}
	return true;
}

/* ---- the steps, on the model and on the kernel ---- */

/* "-EOVERFLOW", or @ok for success */
static const char *sva_model_errstr(int err, const char *ok, char *buf,
				    size_t len)
{
	if (!err)
		return ok;
	snprintf(buf, len, "%pe", ERR_PTR(err));
	return buf;
}

static bool sva_model_do_bind(struct sva_model_world *w,
			      const struct sva_model_step *st)
{
	struct sva_model *m = &w->m;
	unsigned int d = st->a, slot = st->b, g = sva_model_gid(w->spec, d);
	struct sva_model_held *prev = sva_model_held_find(w, g, slot), *held = NULL;
	struct sva_model_bind_out out;
	struct iommu_sva *handle;
	char a[24], b[24];
	int want, got;

	handle = iommu_sva_bind_device(w->dev[d], w->mm[slot]);
	got = PTR_ERR_OR_ZERO(handle);
	sva_model_read_picks(w, slot);
	want = sva_model_bind(m, d, slot, &out);
	if (!IS_ERR_OR_NULL(handle)) {
		held = sva_model_hold(w, handle, g, slot);
		if (!held) {
			iommu_sva_unbind_device(handle);
			return sva_model_diff(w, "too many handles");
		}
	}
	/* Errors are ERR_PTRs, never NULL (I8) */
	if (!handle)
		return sva_model_diff(w, "bind returned NULL");
	if (m->bad_pasid)
		return sva_model_diff(w,
				      "mm[%u] got PASID %u: not a free one below dev[%u]'s %u (I1)",
				      slot, m->pick_pasid, d,
				      w->spec->dev[d].max_pasids);
	if (got != want)
		return sva_model_diff(w, "bind returned %s, the model expects %s",
				      sva_model_errstr(got, "a handle", a, sizeof(a)),
				      sva_model_errstr(want, "a handle", b, sizeof(b)));
	if (want)
		return true;
	/* The same (device, mm) again gives the same handle (I4) */
	if (out.again && (!prev || handle != prev->handle))
		return sva_model_diff(w, "a second bind did not return the same handle");
	if (!out.again && held->refs != 1)
		return sva_model_diff(w, "a new bond returned a handle already held");
	if (!out.shared && !out.again) {
		struct sva_model_dom *dom = &m->dom[m->bond[out.bond].dom];

		dom->ptr = handle->handle.domain;
		dom->id = fake_iommu_domain_id(dom->ptr);
	}
	return true;
}

static bool sva_model_do_unbind(struct sva_model_world *w,
				const struct sva_model_step *st)
{
	struct sva_model *m = &w->m;
	unsigned int g = sva_model_gid(w->spec, st->a), slot = st->b;
	int b = sva_model_find_bond(m, g, slot);
	struct sva_model_held *held = sva_model_held_find(w, g, slot);

	if (b < 0 || !held)
		return sva_model_diff(w, "no handle held for dev[%u] mm[%u]", g, slot);
	sva_model_unbind(m, b);
	iommu_sva_unbind_device(held->handle);
	held->refs--;
	return true;
}

static bool sva_model_do_busy(struct sva_model_world *w,
			      const struct sva_model_step *st)
{
	struct sva_model *m = &w->m;
	unsigned int d = st->a, g = sva_model_gid(w->spec, d);
	struct iommu_attach_handle *handle = NULL;
	u32 pasid = m->mm[st->b].pasid;
	struct iommu_domain *domain;
	char a[24], b[24];
	int want, got;

	if (st->c) {
		handle = kzalloc_obj(*handle);
		if (!handle)
			return sva_model_diff(w, "out of memory");
	}
	domain = iommu_paging_domain_alloc(w->dev[d]);
	got = IS_ERR_OR_NULL(domain) ? (PTR_ERR(domain) ?: -ENOMEM) : 0;
	if (!got) {
		got = iommu_attach_device_pasid(domain, w->dev[d], pasid, handle);
		if (got)
			iommu_domain_free(domain);
	}
	sva_model_read_picks(w, -1);
	want = sva_model_busy(m, d, pasid, st->c);
	if (got) {
		kfree(handle);
	} else {
		w->busy_dom[g] = domain;
		w->busy_handle[g] = handle;
		w->busy_dev[g] = d;
		w->busy_pasid[g] = pasid;
	}
	if (got != want)
		return sva_model_diff(w, "paging domain on PASID %u: %s, model %s", pasid,
				      sva_model_errstr(got, "0", a, sizeof(a)),
				      sva_model_errstr(want, "0", b, sizeof(b)));
	return true;
}

static bool sva_model_do_unbusy(struct sva_model_world *w,
				const struct sva_model_step *st)
{
	struct sva_model *m = &w->m;
	unsigned int g = sva_model_gid(w->spec, st->a);

	if (!w->busy_dom[g])
		return sva_model_diff(w, "no paging domain held for dev[%u]", g);
	iommu_detach_device_pasid(w->busy_dom[g], w->dev[w->busy_dev[g]],
				  w->busy_pasid[g]);
	iommu_domain_free(w->busy_dom[g]);
	kfree(w->busy_handle[g]);
	w->busy_dom[g] = NULL;
	w->busy_handle[g] = NULL;
	sva_model_unbusy(m, g);
	return true;
}

static bool sva_model_do_page_req(struct sva_model_world *w,
				  const struct sva_model_step *st)
{
	struct sva_model_mm *mm = &w->m.mm[st->b];
	struct fake_iommu_page_req req = {
		.pasid = mm->pasid, .grpid = ++w->grpid % 512, .last = true,
		.perm = IOMMU_FAULT_PERM_READ | (st->d ? IOMMU_FAULT_PERM_WRITE : 0),
	};
	unsigned long *va = &w->va[st->b];
	const struct fake_iommu_call *c;
	u8 paged = 0, written = 0;
	int want, i;

	if (mm->live && !*va)
		*va = fake_iommu_mmap(w->mm[st->b], SVA_MODEL_PAGES * PAGE_SIZE,
				      PROT_READ | PROT_WRITE);
	if (IS_ERR_VALUE(*va))
		return sva_model_diff(w, "mm[%u] could not be mapped: %ld", st->b,
				      (long)*va);
	req.addr = *va + st->c * PAGE_SIZE;
	fake_iommu_report_page_req(w->dev[st->a], &req);
	want = sva_model_page_req(&w->m, st);
	i = fake_iommu_wait_call(&w->res, FAKE_OP_PAGE_RESPONSE, w->dev[st->a],
				 0, 10 * HZ);
	c = i < 0 ? NULL : fake_iommu_log_entry(&w->res, i);
	if (!c || c->grpid != req.grpid || c->pasid != req.pasid ||
	    c->code != want)
		return sva_model_diff(w, "page response %d, PASID %u, group %u; model %d, %u, %u",
				      c ? c->code : -1, c ? c->pasid : 0,
				      c ? c->grpid : 0, want, req.pasid, req.grpid);
	/* Served: the page is there, writable after a write; else untouched (I15) */
	for (i = 0; mm->live && i < SVA_MODEL_PAGES; i++) {
		paged |= fake_iommu_page_present(w->mm[st->b], *va + i * PAGE_SIZE,
						 false) << i;
		written |= fake_iommu_page_present(w->mm[st->b], *va + i * PAGE_SIZE,
						   true) << i;
	}
	if (mm->live && (paged != mm->paged || written != mm->written))
		return sva_model_diff(w, "mm[%u] pages present %#x, written %#x; model %#x, %#x",
				      st->b, paged, written, mm->paged, mm->written);
	return true;
}

static bool sva_model_do_step(struct sva_model_world *w,
			      const struct sva_model_step *st)
{
	struct sva_model *m = &w->m;
	int err;

	switch (st->op) {
	case SVA_OP_BIND:
		return sva_model_do_bind(w, st);
	case SVA_OP_UNBIND:
		return sva_model_do_unbind(w, st);
	case SVA_OP_EXIT:
		sva_model_exit(m, st->a);
		mmput(w->mm[st->a]);
		w->mm_held[st->a] = false;
		return true;
	case SVA_OP_NEW_MM:
		return sva_model_mm_alloc(w, st->a) ||
		       sva_model_diff(w, "out of memory");
	case SVA_OP_FAULT:
		err = sva_model_errs[st->d];
		if (st->a) {
			m->fault_dev[st->b][st->c] = err;
			fake_iommu_dev_inject_fault(w->dev[st->b], st->c, 1, err);
		} else {
			m->fault_inst[st->b][st->c] = err;
			fake_iommu_inject_fault(w->iommu[st->b], st->c, 1, err);
		}
		return true;
	case SVA_OP_INVALIDATE:
		sva_model_invalidate(m);
#ifdef FAKE_IOMMU_HAS_SVA_MM_LIST
		if (SVA_MODEL_KERNEL_STEPS)
			iommu_sva_invalidate_kva_range(SVA_MODEL_KVA_START,
						       SVA_MODEL_KVA_END);
#endif
		return true;
	case SVA_OP_BUSY:
		return sva_model_do_busy(w, st);
	case SVA_OP_UNBUSY:
		return sva_model_do_unbusy(w, st);
	case SVA_OP_PAGE_REQ:
		return sva_model_do_page_req(w, st);
	}
	return sva_model_diff(w, "unknown step %u", st->op);
}

static void sva_model_step_str(const struct sva_model_step *st, char *buf,
			       size_t len)
{
	switch (st->op) {
	case SVA_OP_BIND:
	case SVA_OP_UNBIND:
		snprintf(buf, len, "%s dev[%u] mm[%u]",
			 st->op == SVA_OP_BIND ? "bind" : "unbind", st->a, st->b);
		break;
	case SVA_OP_EXIT:
	case SVA_OP_NEW_MM:
		snprintf(buf, len, "%s mm[%u]",
			 st->op == SVA_OP_EXIT ? "exit of" : "new", st->a);
		break;
	case SVA_OP_FAULT:
		snprintf(buf, len, "fault on %s[%u] site %u error %d",
			 st->a ? "dev" : "iommu", st->b, st->c,
			 sva_model_errs[st->d % ARRAY_SIZE(sva_model_errs)]);
		break;
	case SVA_OP_INVALIDATE:
		snprintf(buf, len, "invalidate the kernel range");
		break;
	case SVA_OP_BUSY:
		snprintf(buf, len, "paging domain on dev[%u] PASID of mm[%u]",
			 st->a, st->b);
		break;
	case SVA_OP_UNBUSY:
		snprintf(buf, len, "paging domain off dev[%u]", st->a);
		break;
	case SVA_OP_PAGE_REQ:
		snprintf(buf, len, "page request of dev[%u] on mm[%u]'s PASID, %s page %u",
			 st->a, st->b, st->d ? "write" : "read", st->c);
		break;
	default:
		snprintf(buf, len, "step %u", st->op);
	}
}

/*
 * One step: reset the driver's record, run the step on the model and on
 * the kernel, and compare. A report the kernel made meanwhile (KASAN, a
 * contract violation of the fake driver) failed the test: that counts as
 * a difference too.
 */
static bool sva_model_step(struct sva_model_world *w,
			   const struct sva_model_step *st, const char *tag)
{
	struct sva_model *m = &w->m;
	int slot = st->op == SVA_OP_BIND || st->op == SVA_OP_UNBIND ? st->b : -1;
	bool ok;

	fake_iommu_log_reset(&w->res);
	m->ncalls = 0;
	m->calls_lost = false;
	m->npick_dom = 0;
	m->npick_dev = 0;
	/* The free op may read the mm_count of an mm the test holds. */
	m->watched = slot >= 0 && m->mm[slot].live ? slot : -1;
	if (m->watched >= 0)
		fake_iommu_watch_mm(&w->res, w->mm[slot]);
	ok = sva_model_do_step(w, st) && sva_model_check(w);
	if (ok && READ_ONCE(w->test->status) == KUNIT_FAILURE)
		ok = sva_model_diff(w, "the kernel reported an error (see the log)");
	for (slot = 0; slot < SVA_MODEL_MAX_MMS; slot++)
		if (!m->mm[slot].used && !w->mm_held[slot])
			w->mm[slot] = NULL;
	if (w->steps_run)
		(*w->steps_run)++;
	if (w->verbose) {
		char desc[64];

		sva_model_step_str(st, desc, sizeof(desc));
		kunit_info(w->test, "\t%s%s\n", desc, tag);
		if (!ok) {
			kunit_info(w->test, "\t^ the model and the kernel differ: %s\n",
				   w->why);
			fake_iommu_log_dump(&w->res);
		}
	}
	return ok;
}

/* ---- generating steps ---- */

/* A random device; only of a multi-device group (I13) if @grouped */
static int sva_model_pick_dev(const struct sva_model_spec *s,
			      struct rnd_state *rng, bool grouped)
{
	unsigned int d, n = 0;
	u8 devs[SVA_MODEL_MAX_DEVS];

	for (d = 0; d < s->ndev; d++)
		if (s->dev[d].present && (!grouped || s->dev[d].group >= 0))
			devs[n++] = d;
	return n ? devs[sva_model_below(rng, n)] : -1;
}

/* A random mm; only live ones, only with a PASID, only with domains */
static int sva_model_pick_mm(const struct sva_model *m, struct rnd_state *rng,
			     bool live, bool pasid, bool doms)
{
	unsigned int i, n = 0;
	u8 mms[SVA_MODEL_MAX_MMS];

	for (i = 0; i < SVA_MODEL_MAX_MMS; i++)
		if (m->mm[i].used && (!live || m->mm[i].live) &&
		    (!pasid || m->mm[i].pasid) && (!doms || m->mm[i].ndom))
			mms[n++] = i;
	return n ? mms[sva_model_below(rng, n)] : -1;
}

static int sva_model_pick_bond(const struct sva_model *m,
			       struct rnd_state *rng)
{
	unsigned int i, n = 0;
	u8 bonds[SVA_MODEL_MAX_BONDS];

	for (i = 0; i < SVA_MODEL_MAX_BONDS; i++)
		if (m->bond[i].used)
			bonds[n++] = i;
	return n ? bonds[sva_model_below(rng, n)] : -1;
}

static int sva_model_free_slot(const struct sva_model *m)
{
	unsigned int i;

	for (i = 0; i < SVA_MODEL_MAX_MMS; i++)
		if (!m->mm[i].used)
			return i;
	return -1;
}

/* A random member of group @g: binds through any of them share a handle. */
static unsigned int sva_model_pick_member(const struct sva_model_spec *s,
					  unsigned int g, struct rnd_state *rng)
{
	u8 members[SVA_MODEL_MAX_DEVS];
	unsigned int n = sva_model_group(s, g, members);

	return n ? members[sva_model_below(rng, n)] : g;
}

/*
 * A device not bound to @mm, of the instance (or else of the driver) that
 * allocated one of @mm's domains, the oldest as often as the newest (I3);
 * one that can take the mm's PASID if there is one.
 */
static int sva_model_pick_share(const struct sva_model *m,
				struct rnd_state *rng, unsigned int mm)
{
	const struct sva_model_spec *s = m->spec;
	unsigned int d, inst, n = 0, pass;
	u8 devs[SVA_MODEL_MAX_DEVS];

	if (!m->mm[mm].ndom)
		return -1;
	inst = m->dom[m->mm[mm].dom[sva_model_below(rng, m->mm[mm].ndom)]].inst;
	for (pass = 0; pass < 4 && !n; pass++) {
		for (d = 0; d < s->ndev; d++) {
			const struct sva_model_dev_spec *ds = &s->dev[d];

			if (!ds->present ||
			    sva_model_find_bond(m, sva_model_gid(s, d), mm) >= 0)
				continue;
			if (pass < 2 && (!ds->sva || ds->max_pasids <= m->mm[mm].pasid))
				continue;
			if (pass & 1 ? s->inst[ds->inst].driver == s->inst[inst].driver :
			    ds->inst == inst)
				devs[n++] = d;
		}
	}
	return n ? devs[sva_model_below(rng, n)] : -1;
}

/* A member of a group whose PASID of a live mm a paging domain holds (I8) */
static int sva_model_pick_busy(const struct sva_model *m,
			       struct rnd_state *rng, int *mm)
{
	unsigned int g, i;

	for (g = 0; g < SVA_MODEL_MAX_DEVS; g++) {
		if (!m->busy[g].used)
			continue;
		for (i = 0; i < SVA_MODEL_MAX_MMS; i++) {
			if (!m->mm[i].live || m->mm[i].pasid != m->busy[g].pasid)
				continue;
			*mm = i;
			return sva_model_pick_member(m->spec, g, rng);
		}
	}
	return -1;
}

/* How often each operation is drawn, out of the sum */
static const u8 sva_model_weights[] = {
	[SVA_OP_BIND] = 36,
	[SVA_OP_UNBIND] = 20,
	[SVA_OP_EXIT] = 4,
	[SVA_OP_NEW_MM] = 3,
	[SVA_OP_FAULT] = 8,
	[SVA_OP_INVALIDATE] = 5,
	[SVA_OP_BUSY] = 4,
	[SVA_OP_UNBUSY] = 2,
	[SVA_OP_PAGE_REQ] = 10,
};

/* Try to draw arguments for @op; false when it cannot run now. */
static bool sva_model_gen_args(const struct sva_model *m,
			       struct rnd_state *rng, struct sva_model_step *st)
{
	const struct sva_model_spec *s = m->spec;
	int d, mm, b;

	switch (st->op) {
	case SVA_OP_BIND:
		/*
		 * Aim a fifth of the binds at a (group, mm) bound already, a
		 * fifth at sharing a domain, some at a PASID a paging domain
		 * holds, some at a multi-device group; the rest anywhere.
		 */
		d = -1;
		mm = -1;
		switch (sva_model_below(rng, 10)) {
		case 0:
		case 1:
			b = sva_model_pick_bond(m, rng);
			if (b >= 0 && m->mm[m->bond[b].mm].live) {
				mm = m->bond[b].mm;
				d = sva_model_pick_member(s, m->bond[b].gid, rng);
			}
			break;
		case 2:
		case 3:
			mm = sva_model_pick_mm(m, rng, true, false, true);
			if (mm >= 0)
				d = sva_model_pick_share(m, rng, mm);
			break;
		case 4:
			d = sva_model_pick_busy(m, rng, &mm);
			break;
		case 5:
			d = sva_model_pick_dev(s, rng, true);
			break;
		}
		if (mm < 0)
			mm = sva_model_pick_mm(m, rng, true, false, false);
		if (d < 0)
			d = sva_model_pick_dev(s, rng, false);
		st->a = d;
		st->b = mm;
		return d >= 0 && mm >= 0;
	case SVA_OP_UNBIND:
		b = sva_model_pick_bond(m, rng);
		if (b < 0)
			return false;
		st->a = sva_model_pick_member(s, m->bond[b].gid, rng);
		st->b = m->bond[b].mm;
		return true;
	case SVA_OP_EXIT:
		mm = sva_model_pick_mm(m, rng, true, false, false);
		st->a = mm;
		return mm >= 0;
	case SVA_OP_NEW_MM:
		b = sva_model_free_slot(m);
		st->a = b;
		return b >= 0;
	case SVA_OP_FAULT:
		st->a = sva_model_below(rng, 10) >= 3;
		d = st->a ? sva_model_pick_dev(s, rng, false) :
		    sva_model_below(rng, s->ninst);
		st->b = d;
		st->c = sva_model_below(rng, FAKE_FAULT_NR);
		st->d = sva_model_below(rng, ARRAY_SIZE(sva_model_errs));
		return d >= 0;
	case SVA_OP_INVALIDATE:
#ifdef FAKE_IOMMU_HAS_SVA_MM_LIST
		return SVA_MODEL_KERNEL_STEPS;
#else
		/*
		 * The global SVA mm list came with v6.19 (e37d5a2d60a3): this
		 * core has no kernel range invalidation to walk it.
		 */
		return false;
#endif
	case SVA_OP_BUSY:
		d = sva_model_pick_dev(s, rng, false);
		mm = sva_model_pick_mm(m, rng, false, true, false);
		st->a = d;
		st->b = mm;
		st->c = sva_model_below(rng, 2);
		return d >= 0 && mm >= 0 && !m->busy[sva_model_gid(s, d)].used;
	case SVA_OP_UNBUSY:
		d = sva_model_pick_dev(s, rng, false);
		st->a = d;
		return d >= 0 && m->busy[sva_model_gid(s, d)].used;
	case SVA_OP_PAGE_REQ:
		/* Mostly through a bond; page SVA_MODEL_PAGES is past the mapping */
		b = sva_model_below(rng, 4) ? sva_model_pick_bond(m, rng) : -1;
		d = b < 0 ? sva_model_pick_dev(s, rng, false) :
		    sva_model_pick_member(s, m->bond[b].gid, rng);
		mm = b < 0 ? sva_model_pick_mm(m, rng, false, true, false) :
		     m->bond[b].mm;
		st->a = d;
		st->b = mm;
		st->c = sva_model_below(rng, SVA_MODEL_PAGES + 1);
		st->d = sva_model_below(rng, 2);
		return d >= 0 && mm >= 0;
	}
	return false;
}

static struct sva_model_step sva_model_gen_step(const struct sva_model *m,
						struct rnd_state *rng)
{
	unsigned int total = 0, i, r;
	struct sva_model_step st;

	for (i = 0; i < ARRAY_SIZE(sva_model_weights); i++)
		total += sva_model_weights[i];
	for (;;) {
		st = (struct sva_model_step) { };
		r = sva_model_below(rng, total);
		for (i = 0; r >= sva_model_weights[i]; i++)
			r -= sva_model_weights[i];
		st.op = i;
		if (sva_model_gen_args(m, rng, &st) && sva_model_applicable(m, &st))
			return st;
	}
}

/*
 * A world from a seed: two or three instances (driver A twice, driver B
 * on the third or sometimes the second), random sharing policies and
 * notifiers; a device of its own on every instance and two more, the
 * first as wide as the world; one multi-device group of two or three on
 * one instance in most worlds, with one wide member anywhere in it, and
 * sometimes a second; devices of 16, 4, 2 or no PASIDs, a few without SVA
 * enabled; two or three mms.
 */
static void sva_model_gen_world(struct sva_model_spec *s, struct rnd_state *rng)
{
	static const u32 widths[] = {
		SVA_MODEL_WIDE, SVA_MODEL_WIDE, SVA_MODEL_WIDE, 4, 2, 0,
	};
	/* Group members without PASID support, which a bind skips (I13) */
	static const u32 member_widths[] = { SVA_MODEL_WIDE, 4, 2, 0, 0 };
	unsigned int i, g, k, n, inst;

	memset(s, 0, sizeof(*s));
	s->ninst = sva_model_below(rng, 4) ? 3 : 2;
	for (i = 0; i < s->ninst; i++) {
		struct sva_model_inst_spec *is = &s->inst[i];

		is->present = true;
		is->policy = sva_model_below(rng, 2) ? FAKE_IOMMU_SHARE_OWN :
			     FAKE_IOMMU_SHARE_ANY;
		is->driver = i == 2 || (i == 1 && !sva_model_below(rng, 3)) ?
			     FAKE_IOMMU_DRIVER_B : FAKE_IOMMU_DRIVER_A;
		is->notifier = sva_model_below(rng, 2);
	}
	n = s->ninst + 2;
	for (i = 0; i < n; i++) {
		struct sva_model_dev_spec *ds = &s->dev[s->ndev];

		ds->present = true;
		ds->inst = i < s->ninst ? i : sva_model_below(rng, s->ninst);
		ds->group = -1;
		ds->max_pasids = s->ndev ? widths[sva_model_below(rng, ARRAY_SIZE(widths))] :
				 SVA_MODEL_WIDE;
		ds->sva = ds->max_pasids && (!s->ndev || sva_model_below(rng, 8));
		s->ndev++;
	}
	for (g = 0; g < SVA_MODEL_MAX_GROUPS; g++) {
		unsigned int wide;

		if (sva_model_below(rng, 10) >= (g ? 3 : 8))
			continue;
		inst = sva_model_below(rng, s->ninst);
		n = 2 + (g ? 0 : sva_model_below(rng, 2));
		wide = sva_model_below(rng, n);
		for (k = 0; k < n && s->ndev < SVA_MODEL_MAX_DEVS; k++) {
			struct sva_model_dev_spec *ds = &s->dev[s->ndev++];

			ds->present = true;
			ds->inst = inst;
			ds->group = g;
			ds->max_pasids = k == wide ? SVA_MODEL_WIDE :
					 member_widths[sva_model_below(rng,
								       ARRAY_SIZE(member_widths))];
			ds->sva = ds->max_pasids && sva_model_below(rng, 5);
		}
	}
	s->nmm = 2 + sva_model_below(rng, 2);
}

/* ---- running and replaying a sequence ---- */

struct sva_model_result {
	int err;		/* the world could not be built */
	int fail;		/* the failing step, nsteps for the teardown, -1 none */
	char why[SVA_MODEL_MSG];
};

static void sva_model_print_world(struct kunit *test, const struct sva_model_spec *s)
{
	unsigned int i;

	for (i = 0; i < s->ninst; i++)
		if (s->inst[i].present)
			kunit_info(test, "\tiommu[%u]: share-%s, driver %c%s\n", i,
				   s->inst[i].policy == FAKE_IOMMU_SHARE_ANY ? "any" : "own",
				   'A' + s->inst[i].driver,
				   s->inst[i].notifier ? ", mm notifier" : "");
	for (i = 0; i < s->ndev; i++)
		if (s->dev[i].present)
			kunit_info(test, "\tdev[%u]: iommu[%u], group %d, max_pasids %u%s\n",
				   i, s->dev[i].inst, s->dev[i].group,
				   s->dev[i].max_pasids,
				   s->dev[i].sva ? "" : ", SVA not enabled");
	kunit_info(test, "\tmm[0] to mm[%u]\n", s->nmm - 1);
}

/*
 * Unbind every reference, take every paging domain off, let every process
 * exit: each a step the model checks. Then nothing may be left: every
 * PASID of the world's mms is free again (I1), and no domain lives (I6).
 */
static int sva_model_teardown(struct sva_model_world *w)
{
	struct sva_model *m = &w->m;
	struct sva_model_step st;
	unsigned int i;

	for (i = 0; i < SVA_MODEL_MAX_BONDS; i++)
		while (m->bond[i].used) {
			st = (struct sva_model_step) {
				.op = SVA_OP_UNBIND, .a = m->bond[i].gid, .b = m->bond[i].mm,
			};
			if (!sva_model_step(w, &st, " (teardown)"))
				return -1;
		}
	for (i = 0; i < SVA_MODEL_MAX_DEVS; i++)
		if (m->busy[i].used) {
			st = (struct sva_model_step) { .op = SVA_OP_UNBUSY, .a = i };
			if (!sva_model_step(w, &st, " (teardown)"))
				return -1;
		}
	for (i = 0; i < SVA_MODEL_MAX_MMS; i++)
		if (m->mm[i].live) {
			st = (struct sva_model_step) { .op = SVA_OP_EXIT, .a = i };
			if (!sva_model_step(w, &st, " (teardown)"))
				return -1;
		}
	for (i = 0; i < SVA_MODEL_MAX_MMS; i++) {
		if (m->mm[i].used) {
			sva_model_diff(w, "mm[%u] outlived the teardown in the model", i);
			return -1;
		}
	}
	return 0;
}

/* The seed and the failing step, printed at once */
static void sva_model_first_report(struct kunit *test, u64 seed,
				   const struct sva_model_step *steps, unsigned int n,
				   const struct sva_model_result *res)
{
	char desc[64] = "the teardown";

	if ((unsigned int)res->fail < n)
		sva_model_step_str(&steps[res->fail], desc, sizeof(desc));
	kunit_err(test, "seed %llu: the model and the kernel differ at step %d of %u (%s): %s\n",
		  seed, res->fail + 1, n, desc, res->why);
	kunit_err(test, "to run it again: iommu_sva_model_test.seed=%llu iommu_sva_model_test.seeds=1 iommu_sva_model_test.steps=%u\n",
		  seed, n);
}

/*
 * Run @n steps in a fresh world: generated from @rng (which also fills
 * @steps), or replayed from @steps, skipping those that cannot run.
 */
static void sva_model_run(struct kunit *test, const struct sva_model_spec *s,
			  struct sva_model_step *steps, unsigned int n,
			  struct rnd_state *rng, u64 seed, bool verbose,
			  unsigned int *steps_run, struct sva_model_result *res)
{
	struct sva_model_world *w;
	unsigned int i;

	*res = (struct sva_model_result) { .fail = -1 };
	if (verbose) {
		kunit_info(test, "\tthe world:\n");
		sva_model_print_world(test, s);
		kunit_info(test, "\tthe steps:\n");
	}
	w = sva_model_world_build(test, s, &res->err);
	if (!w)
		return;
	w->verbose = verbose;
	w->steps_run = steps_run;
	for (i = 0; i < n; i++) {
		if (rng)
			steps[i] = sva_model_gen_step(&w->m, rng);
		else if (!sva_model_applicable(&w->m, &steps[i]))
			continue;
		if (!sva_model_step(w, &steps[i], ""))
			break;
	}
	if (i < n)
		res->fail = i;
	else if (sva_model_teardown(w) < 0)
		res->fail = n;
	if (res->fail >= 0)
		strscpy(res->why, w->why, sizeof(res->why));
	/* Before the world goes: a broken core may not survive that. */
	if (rng && res->fail >= 0)
		sva_model_first_report(test, seed, steps, n, res);
	kunit_release_action(test, sva_model_world_release, w);
}

/*
 * The model and the kernel differ (the seed is printed already: a replay
 * may crash a broken kernel): replay the steps up to the failing one,
 * printed one by one. The exhaustive case finds the shortest sequences
 * that show a difference.
 */
static void sva_model_report(struct kunit *test, u64 seed,
			     const struct sva_model_spec *s,
			     struct sva_model_step *steps, unsigned int nsteps,
			     const struct sva_model_result *first)
{
	unsigned int n = min_t(unsigned int, first->fail + 1, nsteps);
	struct sva_model_result res;

	kunit_err(test, "replayed:\n");
	sva_model_run(test, s, steps, n, NULL, 0, true, NULL, &res);
	if (res.fail < 0)
		kunit_err(test, "(the replay did not fail)\n");
	KUNIT_FAIL(test, "seed %llu: the model and the kernel differ: %s", seed,
		   first->why);
}

/* One seed: a world, @nsteps random steps, and the report if it fails. */
static bool sva_model_seed_run(struct kunit *test, u64 seed, unsigned int nsteps,
			       unsigned int *steps_run)
{
	struct rnd_state rng;
	struct sva_model_result res;
	struct sva_model_step *steps;
	struct sva_model_spec *s;

	cond_resched();	/* the soak runs seeds for minutes */
	s = kzalloc_obj(*s);
	steps = kcalloc(nsteps, sizeof(*steps), GFP_KERNEL);
	if (!s || !steps) {
		kfree(s);
		kfree(steps);
		KUNIT_FAIL(test, "out of memory for %u steps", nsteps);
		return false;
	}
	prandom_seed_state(&rng, seed);
	sva_model_gen_world(s, &rng);
	sva_model_run(test, s, steps, nsteps, &rng, seed, false, steps_run, &res);
	if (res.err)
		KUNIT_FAIL(test, "seed %llu: the world could not be built: %pe", seed,
			   ERR_PTR(res.err));
	else if (res.fail >= 0)
		sva_model_report(test, seed, s, steps, nsteps, &res);
	kfree(steps);
	kfree(s);
	return !res.err && res.fail < 0;
}

/*
 * A kernel with 72f98ef9a4be ("iommu: disable SVA when CONFIG_X86 is
 * set") fails every bind on x86: there is nothing to walk.
 */
static void sva_model_skip_on_x86(struct kunit *test)
{
#ifdef FAKE_IOMMU_SVA_OFF_ON_X86
	if (IS_ENABLED(CONFIG_X86))
		kunit_skip(test, "SVA is disabled on x86 in this kernel (stable 72f98ef9a4be)");
#endif
}

static unsigned int sva_model_nsteps(void)
{
	return clamp(sva_model_steps, 1U, SVA_MODEL_MAX_STEPS);
}

/* The default run: a few seeds of a few dozen steps each. */
static void sva_model_test_walk(struct kunit *test)
{
	unsigned int i, steps = 0;

	sva_model_skip_on_x86(test);
	for (i = 0; i < sva_model_seeds; i++)
		if (!sva_model_seed_run(test, sva_model_seed + i, sva_model_nsteps(),
					&steps))
			break;
	kunit_info(test, "%u seeds, %u steps\n", i, steps);
}

static const u8 sva_model_soak_blocks[SVA_MODEL_SOAK_BLOCKS];

static void sva_model_soak_range(const u8 *block, u64 *first, unsigned int *n)
{
	unsigned int per = DIV_ROUND_UP(sva_model_soak_seeds, SVA_MODEL_SOAK_BLOCKS);
	unsigned int i = block - sva_model_soak_blocks;
	unsigned int start = min(i * per, sva_model_soak_seeds);

	*first = sva_model_seed + start;
	*n = min(per, sva_model_soak_seeds - start);
}

static void sva_model_soak_desc(const u8 *block, char *desc)
{
	unsigned int n;
	u64 first;

	sva_model_soak_range(block, &first, &n);
	if (n)
		snprintf(desc, KUNIT_PARAM_DESC_SIZE, "seeds %llu to %llu", first,
			 first + n - 1);
	else
		snprintf(desc, KUNIT_PARAM_DESC_SIZE, "block %td",
			 block - sva_model_soak_blocks);
}

KUNIT_ARRAY_PARAM(sva_model_soak, sva_model_soak_blocks, sva_model_soak_desc);

/*
 * The soak: soak_seeds seeds (10,000 for a release check), in blocks that
 * run as parameters, so that each stays well inside KUnit's timeout.
 */
static void sva_model_test_soak(struct kunit *test)
{
	unsigned int n, i, steps = 0;
	u64 first;

	if (!sva_model_soak_seeds)
		kunit_skip(test, "set iommu_sva_model_test.soak_seeds=N to run");
	sva_model_soak_range(test->param_value, &first, &n);
	if (!n)
		kunit_skip(test, "no seeds left for this block");
	sva_model_skip_on_x86(test);
	for (i = 0; i < n; i++)
		if (!sva_model_seed_run(test, first + i, sva_model_nsteps(), &steps))
			break;
	kunit_info(test, "%u seeds, %u steps\n", i, steps);
}

/* ---- every sequence up to a depth, over one small world ---- */

#define SVA_MODEL_MAX_DEPTH	8
#define SVA_MODEL_STATES	BIT(16)	/* distinct states, at most */

static unsigned int sva_model_depth = 5;
module_param_named(depth, sva_model_depth, uint, 0644);
MODULE_PARM_DESC(depth, "steps of the longest sequences the exhaustive case may run; 0 skips it");

static unsigned int sva_model_budget_ms = 12000;
module_param_named(budget_ms, sva_model_budget_ms, uint, 0644);
MODULE_PARM_DESC(budget_ms, "how long the exhaustive case runs sequences, unless it runs out of them first");

/*
 * Two instances of one driver, one of each sharing policy; behind the
 * share-any one a device and a second one that can encode PASID 1 only,
 * behind the share-own one a device; two mms. No mmu_notifiers, and so no
 * kernel range invalidations: unregistering one waits for an SRCU grace
 * period, which would make the case ten times slower.
 */
static const struct sva_model_spec sva_model_small_world = {
	.ninst = 2, .ndev = 3, .nmm = 2,
	.inst = {
		{ .present = true, .policy = FAKE_IOMMU_SHARE_ANY },
		{ .present = true, .policy = FAKE_IOMMU_SHARE_OWN },
	},
	.dev = {
		{ .present = true, .sva = true, .inst = 0, .group = -1,
		  .max_pasids = SVA_MODEL_WIDE },
		{ .present = true, .sva = true, .inst = 1, .group = -1,
		  .max_pasids = SVA_MODEL_WIDE },
		{ .present = true, .sva = true, .inst = 0, .group = -1,
		  .max_pasids = 2 },
	},
};

/* Every step the small world offers: binds, unbinds, exits, a failure. */
static unsigned int sva_model_alphabet(struct sva_model_step *steps)
{
	unsigned int n = 0, d, mm;

	for (d = 0; d < sva_model_small_world.ndev; d++)
		for (mm = 0; mm < sva_model_small_world.nmm; mm++) {
			steps[n++] = (struct sva_model_step) {
				.op = SVA_OP_BIND, .a = d, .b = mm };
			steps[n++] = (struct sva_model_step) {
				.op = SVA_OP_UNBIND, .a = d, .b = mm };
		}
	for (mm = 0; mm < sva_model_small_world.nmm; mm++)
		steps[n++] = (struct sva_model_step) { .op = SVA_OP_EXIT, .a = mm };
	/* -EIO from the next set_dev_pasid of dev[0] */
	steps[n++] = (struct sva_model_step) {
		.op = SVA_OP_FAULT, .a = 1, .b = 0, .c = FAKE_FAULT_SET_DEV_PASID,
		.d = 1 };
	return n;
}

/* The model's state, less the kernel's pointers, as one number. */
static u32 sva_model_state_hash(const struct sva_model *m)
{
	unsigned int i;
	u32 h = 0;

	for (i = 0; i < SVA_MODEL_MAX_MMS; i++) {
		const struct sva_model_mm *mm = &m->mm[i];

		h = jhash_3words(mm->used | mm->live << 1 | mm->ndom << 2 |
				 mm->paged << 8 | mm->written << 12,
				 mm->count, mm->pasid, h);
		h = jhash(mm->dom, mm->ndom, h);
	}
	for (i = 0; i < SVA_MODEL_MAX_DOMS; i++)
		if (m->dom[i].used)
			h = jhash_3words(i, m->dom[i].inst | m->dom[i].mm << 8,
					 m->dom[i].users, h);
	for (i = 0; i < SVA_MODEL_MAX_BONDS; i++)
		if (m->bond[i].used)
			h = jhash_3words(m->bond[i].gid | m->bond[i].mm << 8,
					 m->bond[i].dom, m->bond[i].refs, h);
	return jhash(m->fault_dev, sizeof(m->fault_dev),
		     jhash(m->fault_inst, sizeof(m->fault_inst), h));
}

/* Count @h among the states seen, in an open-addressing set. */
static void sva_model_note_state(u32 *set, unsigned int *n, u32 h)
{
	unsigned int i = h;

	h = h ?: 1;	/* 0 marks an empty slot */
	while (set[i % SVA_MODEL_STATES] && set[i % SVA_MODEL_STATES] != h)
		i++;
	if (!set[i % SVA_MODEL_STATES] && *n < SVA_MODEL_STATES / 2) {
		set[i % SVA_MODEL_STATES] = h;
		(*n)++;
	}
}

/*
 * After a teardown, the world as it was built: no fault armed, and new
 * mms, with none of the kernel's objects of the last sequence left. Much
 * cheaper than building a new one, which registers instances and devices.
 */
static int sva_model_world_restart(struct sva_model_world *w)
{
	const struct sva_model_spec *s = w->spec;
	struct sva_model *m = &w->m;
	unsigned int i, site;

	for (site = 0; site < FAKE_FAULT_NR; site++) {
		for (i = 0; i < s->ninst; i++)
			if (w->iommu[i])
				fake_iommu_inject_fault(w->iommu[i], site, 0, 0);
		for (i = 0; i < s->ndev; i++)
			if (w->dev[i])
				fake_iommu_dev_inject_fault(w->dev[i], site, 0, 0);
	}
	memset(m->fault_inst, 0, sizeof(m->fault_inst));
	memset(m->fault_dev, 0, sizeof(m->fault_dev));
	w->why[0] = '\0';
	for (i = 0; i < s->nmm; i++)
		if (!sva_model_mm_alloc(w, i))
			return -ENOMEM;
	return 0;
}

/*
 * Run @steps[0..@depth) in the world @w as built (or restarted), checked
 * after every step and by the teardown. Return: how many ran before one
 * that cannot run now (so that no sequence with that prefix is tried), or
 * -1 when the model and the kernel differed (@res says where).
 */
static int sva_model_exhaust_one(struct sva_model_world *w,
				 const struct sva_model_step *steps,
				 unsigned int depth, u32 *set, unsigned int *nstates,
				 struct sva_model_result *res)
{
	unsigned int k;

	*res = (struct sva_model_result) { .fail = -1 };
	for (k = 0; k < depth; k++) {
		const struct sva_model_step *st = &steps[k];

		if (!sva_model_applicable(&w->m, st) ||
		    (st->op == SVA_OP_FAULT && w->m.fault_dev[st->b][st->c]))
			break;
		if (!sva_model_step(w, st, ""))
			break;
		sva_model_note_state(set, nstates, sva_model_state_hash(&w->m));
	}
	if (w->why[0])
		res->fail = k;
	else if (sva_model_teardown(w) < 0)
		res->fail = depth;
	else
		res->err = sva_model_world_restart(w);
	strscpy(res->why, w->why, sizeof(res->why));
	return res->fail >= 0 || res->err ? -1 : k;
}

/*
 * Every sequence of the small world's steps, each in the world as built,
 * the shortest first, so that the first difference found comes with a
 * shortest sequence that shows it: all of 1 step, then all of 2, and so on
 * up to the depth parameter, until the budget is spent. The log says how
 * far it got. Spending the whole budget is what the kmemleak case after
 * this suite relies on: what the suites before allocated grows old enough
 * for a scan meanwhile.
 */
static void sva_model_test_exhaustive(struct kunit *test)
{
	unsigned int nalpha, depth, max = min(sva_model_depth, SVA_MODEL_MAX_DEPTH);
	struct sva_model_step alphabet[16], seq[SVA_MODEL_MAX_DEPTH];
	unsigned int nstates = 0, sequences = 0, n = 0;
	u64 start = ktime_get_ns();
	u64 end = start + (u64)sva_model_budget_ms * NSEC_PER_MSEC;
	u8 idx[SVA_MODEL_MAX_DEPTH];
	struct sva_model_world *w;
	struct sva_model_result res;
	int ran, pos, i;
	u32 *set;

	if (!max)
		kunit_skip(test, "iommu_sva_model_test.depth=0");
	sva_model_skip_on_x86(test);
	nalpha = sva_model_alphabet(alphabet);
	set = kunit_kcalloc(test, SVA_MODEL_STATES, sizeof(*set), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, set);
	w = sva_model_world_build(test, &sva_model_small_world, &res.err);
	if (!w)
		goto failed;
	for (depth = 1; depth <= max; depth++) {
		n = 0;
		memset(idx, 0, sizeof(idx));
		do {
			if (ktime_get_ns() > end)
				goto spent;
			/* Seconds of this without a schedule are a soft lockup. */
			cond_resched();
			for (i = 0; i < depth; i++)
				seq[i] = alphabet[idx[i]];
			ran = sva_model_exhaust_one(w, seq, depth, set, &nstates,
						    &res);
			if (ran < 0)
				goto failed;
			n += ran == depth;
			/* The next sequence, past every one with seq[0..ran]. */
			for (pos = min_t(int, ran, depth - 1); pos >= 0; pos--) {
				if (++idx[pos] < nalpha)
					break;
				idx[pos] = 0;
			}
			memset(idx + pos + 1, 0, depth - pos - 1);
		} while (pos >= 0);
		sequences += n;
		n = 0;
	}
spent:
	if (depth > max)
		kunit_info(test, "%u sequences: all of 1 to %u steps, in %llu ms, %u distinct states\n",
			   sequences, max,
			   div_u64(ktime_get_ns() - start, NSEC_PER_MSEC), nstates);
	else
		kunit_info(test, "%u sequences: all of 1 to %u steps and %u of %u, in %llu ms, %u distinct states\n",
			   sequences + n, depth - 1, n, depth,
			   div_u64(ktime_get_ns() - start, NSEC_PER_MSEC), nstates);
	return;
failed:
	/* A broken core may not survive more: replay in a world of its own. */
	if (w)
		kunit_release_action(test, sva_model_world_release, w);
	if (res.err) {
		KUNIT_FAIL(test, "the world could not be built: %pe", ERR_PTR(res.err));
		return;
	}
	if (res.fail < depth)
		kunit_err(test, "the model and the kernel differ at step %d of these %u; replayed:\n",
			  res.fail + 1, depth);
	else
		kunit_err(test, "the model and the kernel differ in the teardown after these %u steps; replayed:\n",
			  depth);
	sva_model_run(test, &sva_model_small_world, seq, depth, NULL, 0, true,
		      NULL, &res);
	KUNIT_FAIL(test, "the model and the kernel differ: %s", res.why);
}

static struct kunit_case sva_model_cases[] = {
	KUNIT_CASE(sva_model_test_walk),
	KUNIT_CASE_SLOW(sva_model_test_exhaustive),
	KUNIT_CASE_PARAM_ATTR(sva_model_test_soak, sva_model_soak_gen_params,
			      { .speed = KUNIT_SPEED_SLOW }),
	{}
};

static struct kunit_suite sva_model_suite = {
	.name = "iommu_sva_model",
	.test_cases = sva_model_cases,
};

kunit_test_suite(sva_model_suite);

#ifdef FAKE_IOMMU_NS_UNQUOTED
MODULE_IMPORT_NS(IOMMUFD_INTERNAL);
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
#else
MODULE_IMPORT_NS("IOMMUFD_INTERNAL");
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");
#endif

MODULE_DESCRIPTION("Model-based KUnit test of the IOMMU SVA lifecycle");
MODULE_LICENSE("GPL");
