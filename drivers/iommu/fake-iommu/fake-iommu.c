// SPDX-License-Identifier: GPL-2.0
/*
 * Fake multi-instance IOMMU driver for KUnit tests of the IOMMU core.
 *
 * The driver keeps a record of every callback, with the mm_count of the
 * domain's mm at that moment, so that a test can check the order in which
 * the core calls it and print the record when it does not match. There is
 * one record per test, shared by the instances the test registers: the
 * callbacks find it through their instance or domain, whichever context
 * they run in (a thread the test started, the IO page fault workqueue,
 * the kernel's own TLB invalidations), and the driver checks at the end
 * of the test that the core never broke its contract.
 */
#ifdef FAKE_IOMMU_HAS_MOCK_BUS
/*
 * Client devices sit on a bus of the driver's own, as iommufd's selftest
 * puts its mock devices on one: every instance registers for that bus with
 * iommu_device_register_bus(), which gives it a software fwnode, and
 * iommu_mock_device_add() adds each client with a fwspec for the fwnode of
 * its instance, so the core probes it through its bus notifier, the way
 * it probes firmware-described devices of real hardware.
 */
#else
/*
 * Instances register with iommu_device_register() and a software fwnode,
 * clients are platform devices carrying a fwspec for that fwnode: the path
 * that firmware-described multi-instance drivers (SMMUv3, say) take, so the
 * core probes them exactly as it probes real hardware.
 */
#endif
#include <kunit/resource.h>
#include <kunit/test-bug.h>
#include <kunit/test.h>
#include <linux/cpu.h>
#include <linux/device.h>
#include <linux/idr.h>
#include <linux/iommu.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmap_lock.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#ifndef FAKE_IOMMU_HAS_MOCK_BUS
#include <linux/platform_device.h>
#endif
#include <linux/property.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "../iommu-priv.h"
#include "fake-iommu.h"

#define FAKE_IOMMU_DEFAULT_MAX_PASIDS	BIT(20)

#define FAKE_IOMMU_LOG_SIZE		256
#define FAKE_IOMMU_VIOLATIONS_KEPT	8U
#define FAKE_IOMMU_VIOLATION_LEN	128

struct fake_iommu_fault {
	unsigned int nth;
	unsigned int seen;
	int err;
};

/*
 * What the fake IOMMUs of one test saw. A KUnit resource of the test;
 * its instances and their domains hold a reference too, so that a
 * callback that comes late (a domain freed after the test) still writes
 * to live memory.
 */
struct fake_iommu_record {
	struct kref ref;
	struct kunit *test;
	atomic_t live_domains;
	/*
	 * Covers what follows. Readers of the log and of the violations
	 * take no lock: an entry is written once, then published by @len or
	 * @violation_count.
	 */
	spinlock_t lock;
	struct fake_iommu_call log[FAKE_IOMMU_LOG_SIZE];
	unsigned int len;
	unsigned int lost;
	/* Totals survive a full log: [op][0] succeeded, [op][1] failed. */
	unsigned int totals[FAKE_OP_COUNT][2];
	struct mm_struct *watched_mm;
	/* Woken for every entry, so that a test can wait for a callback. */
	wait_queue_head_t changed;
	char violations[FAKE_IOMMU_VIOLATIONS_KEPT][FAKE_IOMMU_VIOLATION_LEN];
	unsigned int violation_count;
};

struct fake_iommu {
	struct iommu_device iommu;
	struct fake_iommu_record *rec;
#ifdef FAKE_IOMMU_HAS_MOCK_BUS
	/* The core's notifier on fake_iommu_bus, for this instance */
	struct notifier_block nb;
#else
	struct fwnode_handle *fwnode;
#endif
	int id;
	/* Its page request handling, as a PRI-capable IOMMU has one */
	struct iopf_queue *iopf_queue;
	enum fake_iommu_policy policy;
	enum fake_iommu_driver driver;
	bool mm_notifier;
	struct fake_iommu_fault faults[FAKE_FAULT_NR];
};

struct fake_iommu_group {
	struct iommu_group *group;
};

struct fake_iommu_client {
#ifdef FAKE_IOMMU_HAS_MOCK_BUS
	struct device dev;
	/* The number in its name, from fake_client_ida */
	int id;
#else
	struct platform_device pdev;
#endif
	struct fake_iommu *iommu;
	struct fake_iommu_group *group;
	bool sva_enabled;
	/* PASID -> fake_domain, for every set_dev_pasid not yet removed */
	struct xarray pasids;
	/* PASIDs that were set and then removed, to name a double remove */
	struct xarray removed;
	struct fake_iommu_fault faults[FAKE_FAULT_NR];
	/*
	 * The device's page request queue in the "hardware": a report runs
	 * under it, and draining it waits for the reports in progress.
	 */
	struct mutex prq_lock;
	/* grpid -> xa_mk_value(PASID): groups waiting for their response */
	struct xarray pending;
	/*
	 * Reasons the device is in its instance's fault queue: the
	 * fault-capable domains set on its PASIDs, under the group mutex;
	 * or IOMMU_DEV_FEAT_IOPF (then at most 1), whose enable and disable
	 * the device's driver, here the test, serializes.
	 */
	unsigned int iopf_users;
};

struct fake_domain {
	struct iommu_domain domain;
	struct fake_iommu_record *rec;
	int instance;
	enum fake_iommu_driver driver;
	bool sva;
	unsigned int seq;
	/* (device, PASID) pairs this domain is set on now */
	atomic_t attached;
	/* Compared with the watched mm, never dereferenced: see free op */
	const struct mm_struct *mm;
	/* Registered on the mm, as SVA drivers do, if the instance asks */
	struct mmu_notifier notifier;
};

static DEFINE_IDA(fake_iommu_ida);
#ifdef FAKE_IOMMU_HAS_MOCK_BUS
static DEFINE_IDA(fake_client_ida);
#endif
/* Domain numbers: one names one domain for the whole boot. */
static atomic_t fake_domain_seq = ATOMIC_INIT(0);
/* jiffies when the newest instance was registered, 0 before the first */
static unsigned long fake_newest_instance;

static const struct iommu_ops fake_iommu_ops[];
static struct iommu_domain fake_blocked_domain;

static const char * const fake_op_names[FAKE_OP_COUNT] = {
	[FAKE_OP_DOMAIN_ALLOC_SVA] = "domain_alloc_sva",
	[FAKE_OP_DOMAIN_ALLOC_PAGING] = "domain_alloc_paging",
	[FAKE_OP_SET_DEV_PASID] = "set_dev_pasid",
	[FAKE_OP_REPLACE_DEV_PASID] = "set_dev_pasid:replace",
#ifdef FAKE_IOMMU_HAS_REMOVE_DEV_PASID
	[FAKE_OP_REMOVE_DEV_PASID] = "remove_dev_pasid",
#else
	[FAKE_OP_REMOVE_DEV_PASID] = "blocked:set_dev_pasid",
#endif
	[FAKE_OP_INVALIDATE] = "invalidate_secondary",
	[FAKE_OP_IOPF_ENABLE] = "iopf_enable",
	[FAKE_OP_IOPF_DISABLE] = "iopf_disable",
	[FAKE_OP_IOPF_DRAIN] = "iopf_drain",
	[FAKE_OP_PAGE_RESPONSE] = "page_response",
	[FAKE_OP_RELEASE_PASID] = "release_device:pasid",
	[FAKE_OP_RELEASE_DEVICE] = "release_device",
	[FAKE_OP_DOMAIN_FREE] = "domain_free",
	[FAKE_OP_ENABLE_SVA] = "enable_sva",
#ifdef FAKE_IOMMU_HAS_DEV_FEAT_SVA
	[FAKE_OP_DISABLE_SVA] = "disable_sva",
#endif
};

/**
 * fake_iommu_op_name() - printable name of a recorded callback
 * @op: the callback
 *
 * Return: a static string.
 */
const char *fake_iommu_op_name(enum fake_iommu_op op)
{
	return op < FAKE_OP_COUNT ? fake_op_names[op] : "?";
}
EXPORT_SYMBOL_GPL(fake_iommu_op_name);

static void fake_record_free(struct kref *ref)
{
	kfree(container_of(ref, struct fake_iommu_record, ref));
}

/* Undo fake_domain_new(). */
static void fake_domain_discard(struct fake_domain *fdom)
{
	atomic_dec(&fdom->rec->live_domains);
	kref_put(&fdom->rec->ref, fake_record_free);
	kfree(fdom);
}

/* Entry @i of @rec's log, or NULL past the last whole one. */
static const struct fake_iommu_call *
fake_record_entry(struct fake_iommu_record *rec, unsigned int i)
{
	/* Pairs with fake_record_call(): the entries below it are whole. */
	return rec && i < smp_load_acquire(&rec->len) ? &rec->log[i] : NULL;
}

static void fake_record_dump(struct kunit *test, struct fake_iommu_record *rec)
{
	const struct fake_iommu_call *c;
	unsigned int i, n;

	kunit_info(test, "fake IOMMU call record (%u calls, %u lost):\n",
		   READ_ONCE(rec->len), READ_ONCE(rec->lost));
	for (i = 0; (c = fake_record_entry(rec, i)); i++) {
		if (c->op == FAKE_OP_PAGE_RESPONSE) {
			kunit_info(test,
				   "  #%-2u %-19s iommu%d %-20s pasid=%-7u grp=%u code=%d\n",
				   i, fake_iommu_op_name(c->op), c->instance,
				   c->dev, c->pasid, c->grpid, c->code);
			continue;
		}
		kunit_info(test,
			   "  #%-2u %-19s iommu%d %-20s pasid=%-7d dom#%u%s mm_count=%d ret=%d\n",
			   i, fake_iommu_op_name(c->op), c->instance, c->dev,
			   c->pasid == IOMMU_NO_PASID ? -1 : (int)c->pasid,
			   c->domain,
			   c->domain_type == IOMMU_DOMAIN_SVA ? "(sva)" :
			   c->domain ? "(paging)" : "",
			   c->mm_count, c->ret);
	}
	/* Pairs with fake_violation(): the messages below it are whole. */
	n = min(smp_load_acquire(&rec->violation_count),
		FAKE_IOMMU_VIOLATIONS_KEPT);
	for (i = 0; i < n; i++)
		kunit_info(test, "  contract violation: %s\n",
			   rec->violations[i]);
}

static struct fake_domain *to_fake_domain(struct iommu_domain *domain)
{
	return container_of(domain, struct fake_domain, domain);
}

static int fake_mm_count(const struct mm_struct *mm)
{
	return mm ? atomic_read(&mm->mm_count) : -1;
}

/* Append @call, with @dev's name, to @rec; the totals count a failure by ret. */
static void fake_record_call(struct fake_iommu_record *rec,
			     const struct fake_iommu_call *call,
			     struct device *dev)
{
	struct fake_iommu_call *entry;
	unsigned long flags;

	spin_lock_irqsave(&rec->lock, flags);
	rec->totals[call->op][call->ret != 0]++;
	if (rec->len == ARRAY_SIZE(rec->log)) {
		rec->lost++;
		goto out;
	}
	entry = &rec->log[rec->len];
	*entry = *call;
	strscpy(entry->dev, dev ? dev_name(dev) : "", sizeof(entry->dev));
	/* Readers take no lock: count the entry only once it is whole. */
	smp_store_release(&rec->len, rec->len + 1);
out:
	spin_unlock_irqrestore(&rec->lock, flags);
	wake_up_all(&rec->changed);
}

static void fake_record_range(struct fake_iommu_record *rec,
			      enum fake_iommu_op op, int instance,
			      struct device *dev, u32 pasid,
			      const struct fake_domain *fdom, int mm_count,
			      int ret, unsigned long start, unsigned long end)
{
	struct fake_iommu_call call = {
		.op = op,
		.instance = instance,
		.pasid = pasid,
		.domain = fdom ? fdom->seq : 0,
		.domain_type = !fdom ? 0 : fdom->sva ? IOMMU_DOMAIN_SVA :
			       IOMMU_DOMAIN_UNMANAGED,
		.mm_count = mm_count,
		.ret = ret,
		.start = start,
		.end = end,
	};

	fake_record_call(rec, &call, dev);
}

static void fake_record(struct fake_iommu_record *rec, enum fake_iommu_op op,
			int instance, struct device *dev, u32 pasid,
			const struct fake_domain *fdom, int mm_count, int ret)
{
	fake_record_range(rec, op, instance, dev, pasid, fdom, mm_count, ret,
			  0, 0);
}

/*
 * The core broke the contract that every IOMMU driver relies on. Like
 * iommufd's mock, say so loudly where it happens: a WARN for the kernel
 * log, a failure of the running KUnit case, if any, that names it, and a
 * copy in the record of the test that owns the instance, @rec (NULL for a
 * device no instance knows), which fails that test at its end too.
 */
static __printf(2, 3) void fake_violation(struct fake_iommu_record *rec,
					  const char *fmt, ...)
{
	char msg[FAKE_IOMMU_VIOLATION_LEN];
	unsigned long flags;
	va_list args;

	va_start(args, fmt);
	vsnprintf(msg, sizeof(msg), fmt, args);
	va_end(args);

	if (rec) {
		spin_lock_irqsave(&rec->lock, flags);
		if (rec->violation_count < FAKE_IOMMU_VIOLATIONS_KEPT)
			strscpy(rec->violations[rec->violation_count], msg);
		/* Pairs with fake_record_dump(): the message is whole. */
		smp_store_release(&rec->violation_count,
				  rec->violation_count + 1);
		spin_unlock_irqrestore(&rec->lock, flags);
	}

	WARN(1, "fake-iommu: the IOMMU core broke the driver contract: %s\n",
	     msg);
	kunit_fail_current_test("fake IOMMU driver contract: %s", msg);
}

static int fake_fault_hit(struct fake_iommu_fault *fault)
{
	if (!fault->nth || ++fault->seen != fault->nth)
		return 0;
	return fault->err;
}

/* Both counters advance, so "the n-th call" means the same to each. */
static int fake_fault_check(struct fake_iommu_client *client,
			    enum fake_iommu_fault_site site)
{
	int iommu_err = fake_fault_hit(&client->iommu->faults[site]);
	int dev_err = fake_fault_hit(&client->faults[site]);

	return iommu_err ?: dev_err;
}

#ifdef FAKE_IOMMU_HAS_MOCK_BUS
/*
 * Every instance registers the core's bus notifier on this bus, each with
 * a notifier_block of its own, so the core hears of each client added or
 * removed once per instance. That is harmless: the first
 * __iommu_probe_device() probes the client through its fwspec and puts it
 * in a group, and every later one returns at once for a device in a group
 * (iommu_probe_device() would then call the driver's probe_finalize(),
 * which the fake driver does not have). Likewise the first
 * iommu_release_device() takes the client out of its group and frees
 * dev->iommu, and the later ones find neither. bus_iommu_probe(), when an
 * instance registers, skips the clients probed before.
 */
static const struct bus_type fake_iommu_bus = {
	.name = "fake-iommu",
};

static void fake_client_release(struct device *dev)
{
	struct fake_iommu_client *client =
		container_of(dev, struct fake_iommu_client, dev);

	/*
	 * Like the iommufd selftest's devices, and unlike the platform ones,
	 * nothing frees dev->iommu here: dev_iommu_free() is not exported,
	 * and iommu_mock_device_add() frees it itself once it got as far as
	 * device_add(). Only a failed allocation inside iommu_fwspec_init()
	 * can leave it behind.
	 */
	xa_destroy(&client->pasids);
	xa_destroy(&client->removed);
	xa_destroy(&client->pending);
	mutex_destroy(&client->prq_lock);
	ida_free(&fake_client_ida, client->id);
	kfree(client);
}

static struct fake_iommu_client *fake_client_of(struct device *dev)
{
	if (dev->bus != &fake_iommu_bus || dev->release != fake_client_release)
		return NULL;
	return container_of(dev, struct fake_iommu_client, dev);
}
#else
static void fake_client_release(struct device *dev)
{
	struct fake_iommu_client *client =
		container_of(to_platform_device(dev), struct fake_iommu_client,
			     pdev);

	/*
	 * A device that never got as far as the core's probe (its
	 * platform_device_add() failed) still carries the fwspec.
	 */
	if (dev->iommu)
		dev_iommu_free(dev);
	xa_destroy(&client->pasids);
	xa_destroy(&client->removed);
	xa_destroy(&client->pending);
	mutex_destroy(&client->prq_lock);
	kfree(client);
}

static struct fake_iommu_client *fake_client_of(struct device *dev)
{
	if (dev->bus != &platform_bus_type || dev->release != fake_client_release)
		return NULL;
	return container_of(to_platform_device(dev), struct fake_iommu_client,
			    pdev);
}
#endif

/*
 * The identity and blocked domains are static, as in most drivers: the
 * core never frees them. Attaching either to a whole device cannot fail.
 */
#ifdef FAKE_IOMMU_ATTACH_DEV_HAS_OLD
static int fake_static_attach_dev(struct iommu_domain *domain,
				  struct device *dev, struct iommu_domain *old)
#else
static int fake_static_attach_dev(struct iommu_domain *domain,
				  struct device *dev)
#endif
{
	return 0;
}

static const struct iommu_domain_ops fake_identity_ops = {
	.attach_dev = fake_static_attach_dev,
};

static struct iommu_domain fake_identity_domain = {
	.type = IOMMU_DOMAIN_IDENTITY,
	.ops = &fake_identity_ops,
};

/*
 * The client behind @dev, as the driver's own probe recorded it; a device
 * the driver never probed is a contract violation.
 */
static struct fake_iommu_client *fake_client_for_op(struct device *dev,
						    const char *op)
{
	struct fake_iommu_client *client = fake_client_of(dev);

	if (!client || dev_iommu_priv_get(dev) != client) {
		fake_violation(client ? client->iommu->rec : NULL,
			       "%s for %s, a device this driver never probed",
			       op, dev_name(dev));
		return NULL;
	}
	return client;
}

/*
 * Until v6.16 a device's driver enabled IO page faults through the core
 * (IOMMU_DEV_FEAT_IOPF) before SVA; since, the IOMMU driver enables them
 * itself for each fault-capable domain it sets on a PASID, as VT-d and
 * SMMUv3 do.
 */
#ifdef FAKE_IOMMU_HAS_DEV_FEAT_IOPF
#define FAKE_IOPF_PER_DOMAIN	false
#else
#define FAKE_IOPF_PER_DOMAIN	true
#endif

static bool fake_fault_capable(const struct iommu_domain *domain)
{
	return domain && domain != &fake_blocked_domain &&
	       domain->iopf_handler;
}

/*
 * One more reason for @dev to be in its instance's fault queue; the first
 * one adds it.
 */
static int fake_iopf_get(struct fake_iommu_client *client, struct device *dev)
{
	int ret;

	if (client->iopf_users++)
		return 0;
	ret = iopf_queue_add_device(client->iommu->iopf_queue, dev);
	if (ret)
		client->iopf_users--;
	fake_record(client->iommu->rec, FAKE_OP_IOPF_ENABLE, client->iommu->id,
		    dev, IOMMU_NO_PASID, NULL, -1, ret);
	return ret;
}

/*
 * Take @dev out of its instance's fault queue, whatever its count: the
 * core answers the groups still pending there INVALID and frees them.
 */
static void fake_iopf_leave(struct fake_iommu_client *client,
			    struct device *dev)
{
	client->iopf_users = 0;
	iopf_queue_remove_device(client->iommu->iopf_queue, dev);
	fake_record(client->iommu->rec, FAKE_OP_IOPF_DISABLE, client->iommu->id,
		    dev, IOMMU_NO_PASID, NULL, -1, 0);
}

/* One reason fewer; after the last one the device leaves the queue. */
static void fake_iopf_put(struct fake_iommu_client *client, struct device *dev)
{
	if (WARN_ON(!client->iopf_users) || --client->iopf_users)
		return;
	fake_iopf_leave(client, dev);
}

/*
 * Wait until every page request the hardware reported for @dev has been
 * handled: the reports in progress, then the fault handlers the core
 * queued for them (iopf_queue_flush_dev()).
 */
static void fake_iopf_flush(struct fake_iommu_client *client,
			    struct device *dev)
{
	mutex_lock(&client->prq_lock);
	mutex_unlock(&client->prq_lock);
	iopf_queue_flush_dev(dev);
}

/*
 * Before a driver lets a PASID go, every page request the hardware
 * reported for it has been handled (iopf_queue_flush_dev()'s contract),
 * so that no fault of the old address space lands in the next one that
 * gets the PASID.
 */
static void fake_iopf_drain(struct fake_iommu_client *client,
			    struct device *dev, ioasid_t pasid,
			    const struct fake_domain *fdom)
{
	if (!client->iopf_users)
		return;
	fake_record(client->iommu->rec, FAKE_OP_IOPF_DRAIN, client->iommu->id,
		    dev, pasid, fdom, -1, 0);
	fake_iopf_flush(client, dev);
}

/*
 * What the core owes a driver in set_dev_pasid(): a PASID inside the
 * device's range (never IOMMU_NO_PASID, never on a device without PASID
 * support), a domain of this very driver, one PASID set only once unless
 * the core replaces @old, and for an SVA domain everything the core itself
 * must fill in after domain_alloc_sva(): type, mm, owner, fault handler.
 */
static bool fake_set_dev_pasid_contract(struct fake_iommu_client *client,
					struct fake_domain *fdom,
					struct device *dev, ioasid_t pasid,
					struct iommu_domain *old)
{
	struct iommu_domain *domain = &fdom->domain;
	u32 max = dev->iommu->max_pasids;
	void *cur;

	if (pasid == IOMMU_NO_PASID || pasid >= max) {
		fake_violation(client->iommu->rec,
			       "set_dev_pasid of PASID %u on %s, whose PASIDs are [1, %u)",
			       pasid, dev_name(dev), max);
		return false;
	}
	if (fdom->driver != client->iommu->driver) {
		fake_violation(client->iommu->rec,
			       "set_dev_pasid of a driver %c domain on %s, a device of driver %c",
			       'A' + fdom->driver, dev_name(dev),
			       'A' + client->iommu->driver);
		return false;
	}
	cur = xa_load(&client->pasids, pasid);
	if (cur && cur != old) {
		fake_violation(client->iommu->rec,
			       "set_dev_pasid of PASID %u on %s, which is already set",
			       pasid, dev_name(dev));
		return false;
	}
	if (!fdom->sva)
		return true;
	if (domain->type != IOMMU_DOMAIN_SVA || domain->mm != fdom->mm ||
	    domain->owner != &fake_iommu_ops[fdom->driver] ||
	    !domain->iopf_handler) {
		fake_violation(client->iommu->rec,
			       "SVA domain #%u unset by core: type %u mm %s owner %s iopf %s",
			       fdom->seq, domain->type,
			       domain->mm == fdom->mm ? "ok" : "wrong",
			       domain->owner == &fake_iommu_ops[fdom->driver] ?
			       "ok" : "wrong",
			       domain->iopf_handler ? "set" : "NULL");
		return false;
	}
	return true;
}

static int fake_set_dev_pasid(struct iommu_domain *domain, struct device *dev,
			      ioasid_t pasid, struct iommu_domain *old)
{
	bool old_iopf = fake_fault_capable(old);
	bool iopf = fake_fault_capable(domain);
	struct fake_iommu_client *client;
	struct fake_domain *fdom = to_fake_domain(domain);
	bool queued = false;
	int ret;

	client = fake_client_for_op(dev, "set_dev_pasid");
	if (!client)
		return -ENODEV;
	if (!fake_set_dev_pasid_contract(client, fdom, dev, pasid, old))
		ret = -EINVAL;
	else
		ret = fake_fault_check(client, FAKE_FAULT_SET_DEV_PASID);
	if (!ret && fdom->sva && !client->sva_enabled)
		ret = -ENODEV;
	if (!ret && fdom->sva && client->iommu->policy == FAKE_IOMMU_SHARE_OWN &&
	    fdom->instance != client->iommu->id)
		ret = -EINVAL;
	/* A fault-capable domain needs the device in the fault queue first. */
	if (!ret && iopf && !FAKE_IOPF_PER_DOMAIN && !client->iopf_users)
		ret = -ENODEV;
	if (!ret && iopf && !old_iopf && FAKE_IOPF_PER_DOMAIN)
		ret = fake_iopf_get(client, dev);
	if (!ret) {
		/* Programs the PASID: the device may fault on it from here on. */
		ret = xa_err(xa_store(&client->pasids, pasid, fdom, GFP_KERNEL));
		queued = client->iopf_users;
		if (ret && iopf && !old_iopf && FAKE_IOPF_PER_DOMAIN)
			fake_iopf_put(client, dev);
	}
	if (!ret) {
		xa_erase(&client->removed, pasid);
		atomic_inc(&fdom->attached);
		if (old && old != &fake_blocked_domain)
			atomic_dec(&to_fake_domain(old)->attached);
		/* A replace: the old domain's faults go before it does. */
		if (old_iopf)
			fake_iopf_drain(client, dev, pasid, to_fake_domain(old));
		if (old_iopf && !iopf && FAKE_IOPF_PER_DOMAIN)
			fake_iopf_put(client, dev);
	}

	fake_record_call(client->iommu->rec, &(struct fake_iommu_call) {
		.op = old && old != &fake_blocked_domain ?
		      FAKE_OP_REPLACE_DEV_PASID : FAKE_OP_SET_DEV_PASID,
		.instance = client->iommu->id,
		.pasid = pasid,
		.domain = fdom->seq,
		.domain_type = fdom->sva ? IOMMU_DOMAIN_SVA :
			       IOMMU_DOMAIN_UNMANAGED,
		.mm_count = fdom->sva ? fake_mm_count(fdom->mm) : -1,
		.ret = ret,
		.iopf_queued = queued,
	}, dev);
	return ret;
}

/*
 * The core takes @domain off @pasid of @dev. Every successful
 * set_dev_pasid() is undone exactly once, and nothing else is (I12, I13):
 * anything else is a contract violation, recorded with -ENOENT.
 */
static void fake_detach_dev_pasid(struct device *dev, ioasid_t pasid,
				  struct iommu_domain *domain)
{
	struct fake_iommu_client *client;
	struct fake_domain *fdom = to_fake_domain(domain);
	void *was;
	int ret = 0;

	client = fake_client_for_op(dev, "PASID detach");
	if (!client)
		return;
	was = xa_load(&client->pasids, pasid);
	if (!dev->iommu->max_pasids) {
		fake_violation(client->iommu->rec,
			       "PASID %u detached from %s, a device without PASID support",
			       pasid, dev_name(dev));
		ret = -ENOENT;
	} else if (was == fdom) {
		xa_erase(&client->pasids, pasid);
		xa_store(&client->removed, pasid, xa_mk_value(fdom->seq),
			 GFP_KERNEL);
		atomic_dec(&fdom->attached);
		if (fake_fault_capable(domain)) {
			fake_iopf_drain(client, dev, pasid, fdom);
			if (FAKE_IOPF_PER_DOMAIN)
				fake_iopf_put(client, dev);
		}
	} else {
		fake_violation(client->iommu->rec,
			       "PASID %u of %s detached from domain #%u, but it is %s",
			       pasid, dev_name(dev), fdom->seq,
			       was ? "set to another domain" :
			       xa_load(&client->removed, pasid) ?
			       "already detached (a double remove)" :
			       "not set");
		ret = -ENOENT;
	}

	fake_record(client->iommu->rec, FAKE_OP_REMOVE_DEV_PASID,
		    client->iommu->id, dev, pasid,
		    fdom, fdom->sva ? fake_mm_count(fdom->mm) : -1, ret);
}

/* Setting the blocked domain on a PASID is how the core detaches it. */
static int fake_blocked_set_dev_pasid(struct iommu_domain *blocked,
				      struct device *dev, ioasid_t pasid,
				      struct iommu_domain *old)
{
	if (!old) {
		struct fake_iommu_client *client = fake_client_of(dev);

		fake_violation(client ? client->iommu->rec : NULL,
			       "blocked domain set on PASID %u of %s with no old domain",
			       pasid, dev_name(dev));
		return -EINVAL;
	}
	fake_detach_dev_pasid(dev, pasid, old);
	return 0;
}

static const struct iommu_domain_ops fake_blocked_ops = {
	.attach_dev = fake_static_attach_dev,
	.set_dev_pasid = fake_blocked_set_dev_pasid,
};

static struct iommu_domain fake_blocked_domain = {
	.type = IOMMU_DOMAIN_BLOCKED,
	.ops = &fake_blocked_ops,
};

/*
 * The core has dropped its mm_count reference before it calls this
 * (iommu_domain_free()), so domain->mm may already be freed: read only
 * the mm a test has promised to keep alive. A registered notifier holds
 * an mm_count of its own, so its mm is still there to unregister from.
 */
static void fake_domain_free(struct iommu_domain *domain)
{
	struct fake_domain *fdom = to_fake_domain(domain);
	struct mm_struct *watched = READ_ONCE(fdom->rec->watched_mm);
	int mm_count = -1;

	if (watched && fdom->mm == watched)
		mm_count = fake_mm_count(watched);

	/* The core detaches every PASID before it frees the domain. */
	if (atomic_read(&fdom->attached))
		fake_violation(fdom->rec,
			       "domain #%u freed while still set on %d PASIDs",
			       fdom->seq, atomic_read(&fdom->attached));
	fake_record(fdom->rec, FAKE_OP_DOMAIN_FREE, fdom->instance, NULL,
		    IOMMU_NO_PASID, fdom, mm_count, 0);
	if (fdom->notifier.mm)
		mmu_notifier_unregister(&fdom->notifier, fdom->notifier.mm);
	fake_domain_discard(fdom);
}

static const struct iommu_domain_ops fake_sva_domain_ops = {
	.set_dev_pasid = fake_set_dev_pasid,
	.free = fake_domain_free,
};

static const struct iommu_domain_ops fake_paging_domain_ops = {
	.attach_dev = fake_static_attach_dev,
	.set_dev_pasid = fake_set_dev_pasid,
	.free = fake_domain_free,
};

/* May run in atomic context (under a page table lock): record only. */
static void fake_invalidate_secondary_tlbs(struct mmu_notifier *mn,
					   struct mm_struct *mm,
					   unsigned long start,
					   unsigned long end)
{
	struct fake_domain *fdom = container_of(mn, struct fake_domain,
						notifier);

	fake_record_range(fdom->rec, FAKE_OP_INVALIDATE, fdom->instance, NULL,
			  IOMMU_NO_PASID, fdom, fake_mm_count(mm), 0, start,
			  end);
}

static const struct mmu_notifier_ops fake_mmu_notifier_ops = {
	.arch_invalidate_secondary_tlbs = fake_invalidate_secondary_tlbs,
};

static struct fake_domain *fake_domain_new(struct fake_iommu_client *client,
					   bool sva,
					   const struct iommu_domain_ops *ops)
{
	struct fake_domain *fdom = kzalloc_obj(*fdom);

	if (!fdom)
		return NULL;
	fdom->domain.ops = ops;
	fdom->rec = client->iommu->rec;
	kref_get(&fdom->rec->ref);
	fdom->instance = client->iommu->id;
	fdom->driver = client->iommu->driver;
	fdom->sva = sva;
	atomic_set(&fdom->attached, 0);
	fdom->seq = atomic_inc_return(&fake_domain_seq);
	atomic_inc(&fdom->rec->live_domains);
	return fdom;
}

/*
 * Like intel/svm.c, set only what is the driver's: the ops, and a notifier
 * on @mm where the instance has one. The core sets type, owner, mm and the
 * fault handler, and takes its own mm_count; set_dev_pasid() checks that
 * it did.
 */
static struct iommu_domain *fake_domain_alloc_sva(struct device *dev,
						  struct mm_struct *mm)
{
	struct fake_iommu_client *client = dev_iommu_priv_get(dev);
	struct fake_domain *fdom = NULL;
	int ret;

	ret = fake_fault_check(client, FAKE_FAULT_DOMAIN_ALLOC);
	if (!ret) {
		fdom = fake_domain_new(client, true, &fake_sva_domain_ops);
		if (!fdom)
			ret = -ENOMEM;
	}
	if (fdom && client->iommu->mm_notifier) {
		fdom->notifier.ops = &fake_mmu_notifier_ops;
		ret = mmu_notifier_register(&fdom->notifier, mm);
		if (ret) {
			fake_domain_discard(fdom);
			fdom = NULL;
		}
	}
	if (fdom)
		fdom->mm = mm;
	fake_record(client->iommu->rec, FAKE_OP_DOMAIN_ALLOC_SVA,
		    client->iommu->id, dev,
		    IOMMU_NO_PASID, fdom, fake_mm_count(mm), ret);
	return ret ? ERR_PTR(ret) : &fdom->domain;
}

static struct iommu_domain *fake_domain_alloc_paging(struct device *dev)
{
	struct fake_iommu_client *client = dev_iommu_priv_get(dev);
	struct fake_domain *fdom = NULL;
	int ret;

	ret = fake_fault_check(client, FAKE_FAULT_DOMAIN_ALLOC);
	if (!ret) {
		fdom = fake_domain_new(client, false, &fake_paging_domain_ops);
		if (fdom)
			fdom->domain.pgsize_bitmap = SZ_4K;
		else
			ret = -ENOMEM;
	}
	fake_record(client->iommu->rec, FAKE_OP_DOMAIN_ALLOC_PAGING,
		    client->iommu->id, dev,
		    IOMMU_NO_PASID, fdom, -1, ret);
	return ret ? ERR_PTR(ret) : &fdom->domain;
}

static struct iommu_device *fake_probe_device(struct device *dev)
{
	struct fake_iommu_client *client = fake_client_of(dev);

	if (!client)
		return ERR_PTR(-ENODEV);
	dev_iommu_priv_set(dev, client);
	return &client->iommu->iommu;
}

static struct iommu_group *fake_device_group(struct device *dev)
{
	struct fake_iommu_client *client = dev_iommu_priv_get(dev);
	struct fake_iommu_group *fgroup = client->group;
	struct iommu_group *group;

	if (!fgroup)
		return generic_device_group(dev);
	if (fgroup->group)
		return iommu_group_ref_get(fgroup->group);

	group = iommu_group_alloc();
	if (!IS_ERR(group))
		fgroup->group = iommu_group_ref_get(group);
	return group;
}

/*
 * The core answers each group of page requests exactly once: a response
 * to a group with no request waiting for one (never reported, or already
 * answered), or with another PASID than the request's, breaks the
 * contract.
 */
static void fake_page_response(struct device *dev, struct iopf_fault *evt,
			       struct iommu_page_response *msg)
{
	struct fake_iommu_call call = {
		.op = FAKE_OP_PAGE_RESPONSE,
		.pasid = msg->pasid,
		.grpid = msg->grpid,
		.code = msg->code,
	};
	struct fake_iommu_client *client;
	void *pending;

	client = fake_client_for_op(dev, "page_response");
	if (!client)
		return;
	call.instance = client->iommu->id;
	pending = xa_erase(&client->pending, msg->grpid);
	if (!pending) {
		fake_violation(client->iommu->rec,
			       "page response (code %d) to group %u of %s, which has no request waiting: never reported, or answered before",
			       msg->code, msg->grpid, dev_name(dev));
		call.ret = -ENOENT;
	} else if (xa_to_value(pending) != msg->pasid) {
		fake_violation(client->iommu->rec,
			       "page response to group %u of %s for PASID %u, but the request had PASID %lu",
			       msg->grpid, dev_name(dev), msg->pasid,
			       xa_to_value(pending));
		call.ret = -EINVAL;
	} else if (evt->fault.prm.grpid != msg->grpid) {
		fake_violation(client->iommu->rec,
			       "page response for group %u of %s names the request of group %u",
			       msg->grpid, dev_name(dev), evt->fault.prm.grpid);
		call.ret = -EINVAL;
	}
	fake_record_call(client->iommu->rec, &call, dev);
}

/*
 * The device goes. Like VT-d and SMMUv3, stop its page requests first:
 * drain what was reported and flush the handlers. Then stop using every
 * domain still set on one of its PASIDs, as the core requires of
 * release_device(): the core will not take them off this device, and
 * frees them when their last other user goes. Last, take the device out
 * of the fault queue, which answers the groups still pending. A PASID
 * still set is recorded as -EBUSY: the device's driver left a handle
 * bound, or another device of the group holds it.
 */
static void fake_release_device(struct device *dev)
{
	struct fake_iommu_client *client;
	struct fake_domain *fdom;
	unsigned long pasid;
	int ret = 0;

	client = fake_client_for_op(dev, "release_device");
	if (!client)
		return;
	fake_iopf_drain(client, dev, IOMMU_NO_PASID, NULL);
	xa_for_each(&client->pasids, pasid, fdom) {
		xa_erase(&client->pasids, pasid);
		atomic_dec(&fdom->attached);
		fake_record(client->iommu->rec, FAKE_OP_RELEASE_PASID,
			    client->iommu->id, dev, pasid, fdom, -1, 0);
		ret = -EBUSY;
	}
	if (client->iopf_users)
		fake_iopf_leave(client, dev);
	fake_record(client->iommu->rec, FAKE_OP_RELEASE_DEVICE,
		    client->iommu->id, dev, IOMMU_NO_PASID, NULL, -1, ret);
}

static int fake_def_domain_type(struct device *dev)
{
	return IOMMU_DOMAIN_IDENTITY;
}

/*
 * What a device needs before it can take an SVA domain: PASID support,
 * and IO page faults where its driver enables them.
 */
static int fake_enable_sva(struct device *dev)
{
	struct fake_iommu_client *client = dev_iommu_priv_get(dev);
	int ret = dev->iommu->max_pasids ? 0 : -ENODEV;

	if (!ret && !FAKE_IOPF_PER_DOMAIN && !client->iopf_users)
		ret = -EINVAL;

	if (!ret)
		client->sva_enabled = true;
	fake_record(client->iommu->rec, FAKE_OP_ENABLE_SVA, client->iommu->id,
		    dev, IOMMU_NO_PASID, NULL, -1, ret);
	return ret;
}

#ifdef FAKE_IOMMU_HAS_DEV_FEAT_SVA
static int fake_dev_enable_feat(struct device *dev,
				enum iommu_dev_features feat)
{
	struct fake_iommu_client *client = dev_iommu_priv_get(dev);

	switch (feat) {
#ifdef FAKE_IOMMU_HAS_DEV_FEAT_IOPF
	case IOMMU_DEV_FEAT_IOPF:
		return client->iopf_users ? -EBUSY : fake_iopf_get(client, dev);
#endif
	case IOMMU_DEV_FEAT_SVA:
		return fake_enable_sva(dev);
	default:
		return -ENODEV;
	}
}

static int fake_dev_disable_feat(struct device *dev,
				 enum iommu_dev_features feat)
{
	struct fake_iommu_client *client = dev_iommu_priv_get(dev);
	int ret;

	switch (feat) {
#ifdef FAKE_IOMMU_HAS_DEV_FEAT_IOPF
	case IOMMU_DEV_FEAT_IOPF:
		/* Real drivers refuse while SVA or a PASID still needs it. */
		if (client->sva_enabled || !xa_empty(&client->pasids))
			return -EBUSY;
		if (!client->iopf_users)
			return -EINVAL;
		fake_iopf_flush(client, dev);
		fake_iopf_put(client, dev);
		return 0;
#endif
	case IOMMU_DEV_FEAT_SVA:
		/* Real drivers refuse while a PASID is still in use. */
		ret = xa_empty(&client->pasids) ? 0 : -EBUSY;
		if (!ret)
			client->sva_enabled = false;
		fake_record(client->iommu->rec, FAKE_OP_DISABLE_SVA,
			    client->iommu->id, dev, IOMMU_NO_PASID, NULL, -1,
			    ret);
		return ret;
	default:
		return -ENODEV;
	}
}
#endif

/* Two identical drivers at two addresses: the core tells them apart. */
static const struct iommu_ops fake_iommu_ops[] = {
	[FAKE_IOMMU_DRIVER_A ... FAKE_IOMMU_DRIVER_B] = {
		.identity_domain = &fake_identity_domain,
		.blocked_domain = &fake_blocked_domain,
		.domain_alloc_sva = fake_domain_alloc_sva,
		.domain_alloc_paging = fake_domain_alloc_paging,
		.probe_device = fake_probe_device,
		.release_device = fake_release_device,
		.page_response = fake_page_response,
		.device_group = fake_device_group,
		.def_domain_type = fake_def_domain_type,
#ifdef FAKE_IOMMU_HAS_DEV_FEAT_SVA
		.dev_enable_feat = fake_dev_enable_feat,
		.dev_disable_feat = fake_dev_disable_feat,
#endif
#ifdef FAKE_IOMMU_HAS_REMOVE_DEV_PASID
		.remove_dev_pasid = fake_detach_dev_pasid,
#endif
		.default_domain_ops = &fake_paging_domain_ops,
		.owner = THIS_MODULE,
	},
};

/*
 * KUnit removes the instance's clients first: the test added them after
 * the instance.
 */
static void fake_iommu_destroy(struct fake_iommu *iommu)
{
	struct fake_iommu_record *rec = iommu->rec;

#ifdef FAKE_IOMMU_HAS_MOCK_BUS
	iommu_device_unregister_bus(&iommu->iommu, &fake_iommu_bus, &iommu->nb);
	iommu_device_sysfs_remove(&iommu->iommu);
#else
	iommu_device_unregister(&iommu->iommu);
	iommu_device_sysfs_remove(&iommu->iommu);
	fwnode_remove_software_node(iommu->fwnode);
#endif
	iopf_queue_free(iommu->iopf_queue);
	ida_free(&fake_iommu_ida, iommu->id);
	kfree(iommu);
	kref_put(&rec->ref, fake_record_free);
}

/*
 * The end of the test that owns the record: the core must have kept the
 * driver's contract. A violation failed the test that ran then, if any;
 * this fails the owner too, or the test running now when the owner is a
 * context of the running test's own (kunit_init_test()).
 */
static void fake_record_release(struct kunit_resource *res)
{
	struct fake_iommu_record *rec = res->data;
	struct kunit *test = kunit_get_current_test() ?: rec->test;
	unsigned int n = READ_ONCE(rec->violation_count);

	if (n) {
		KUNIT_FAIL(test, "the IOMMU core broke the fake driver's contract %u times",
			   n);
		fake_record_dump(test, rec);
	}
	kref_put(&rec->ref, fake_record_free);
}

static int fake_record_init(struct kunit_resource *res, void *test)
{
	struct fake_iommu_record *rec = kzalloc_obj(*rec);

	if (!rec)
		return -ENOMEM;
	kref_init(&rec->ref);
	rec->test = test;
	spin_lock_init(&rec->lock);
	init_waitqueue_head(&rec->changed);
	res->data = rec;
	return 0;
}

static bool fake_record_match(struct kunit *test, struct kunit_resource *res,
			      void *unused)
{
	return res->free == fake_record_release;
}

/* The record of @test's instances, or NULL before its first one. */
static struct fake_iommu_record *fake_record_of(struct kunit *test)
{
	struct kunit_resource *res;
	struct fake_iommu_record *rec;

	res = kunit_find_resource(test, fake_record_match, NULL);
	if (!res)
		return NULL;
	rec = res->data;
	/* @test holds the resource until it ends, and the record with it. */
	kunit_put_resource(res);
	return rec;
}

KUNIT_DEFINE_ACTION_WRAPPER(fake_iommu_destroy_action, fake_iommu_destroy,
			    struct fake_iommu *);

/**
 * fake_iommu_kunit_create() - register a fake IOMMU instance for one test
 * @test: the test that owns it; it is unregistered when the test ends
 * @cfg: policy, driver and PASID width of the instance
 *
 * Return: the instance, or an ERR_PTR.
 */
struct fake_iommu *fake_iommu_kunit_create(struct kunit *test,
					   const struct fake_iommu_config *cfg)
{
	struct fake_iommu *iommu;
	char name[24];
	int ret;

	if (cfg->driver > FAKE_IOMMU_DRIVER_B)
		return ERR_PTR(-EINVAL);

	iommu = kzalloc_obj(*iommu);
	if (!iommu)
		return ERR_PTR(-ENOMEM);
	iommu->rec = fake_record_of(test) ?:
		     kunit_alloc_resource(test, fake_record_init,
					  fake_record_release, GFP_KERNEL, test);
	if (!iommu->rec) {
		kfree(iommu);
		return ERR_PTR(-ENOMEM);
	}
	kref_get(&iommu->rec->ref);
	iommu->policy = cfg->policy;
	iommu->driver = cfg->driver;
	iommu->mm_notifier = cfg->mm_notifier;
	iommu->iommu.max_pasids = cfg->max_pasids ?: FAKE_IOMMU_DEFAULT_MAX_PASIDS;

	ret = ida_alloc(&fake_iommu_ida, GFP_KERNEL);
	if (ret < 0)
		goto err_free;
	iommu->id = ret;

	snprintf(name, sizeof(name), "fake-iommu.%d", iommu->id);
	iommu->iopf_queue = iopf_queue_alloc(name);
	if (!iommu->iopf_queue) {
		ret = -ENOMEM;
		goto err_ida;
	}

#ifdef FAKE_IOMMU_HAS_MOCK_BUS
	/* The core links each client to the instance's sysfs device. */
	ret = iommu_device_sysfs_add(&iommu->iommu, NULL, NULL, "fake-iommu.%d",
				     iommu->id);
	if (ret)
		goto err_ida;

	/* The core creates the instance's fwnode, and removes it again. */
	ret = iommu_device_register_bus(&iommu->iommu,
					&fake_iommu_ops[cfg->driver],
					&fake_iommu_bus, &iommu->nb);
#else
	iommu->fwnode = fwnode_create_software_node(NULL, NULL);
	if (IS_ERR(iommu->fwnode)) {
		ret = PTR_ERR(iommu->fwnode);
		goto err_ida;
	}
	iommu->iommu.fwnode = iommu->fwnode;

	ret = iommu_device_sysfs_add(&iommu->iommu, NULL, NULL, "fake-iommu.%d",
				     iommu->id);
	if (ret)
		goto err_fwnode;

	ret = iommu_device_register(&iommu->iommu, &fake_iommu_ops[cfg->driver],
				    NULL);
#endif
	if (ret)
		goto err_sysfs;

	WRITE_ONCE(fake_newest_instance, jiffies ?: 1);
	ret = kunit_add_action_or_reset(test, fake_iommu_destroy_action, iommu);
	return ret ? ERR_PTR(ret) : iommu;

err_sysfs:
	iommu_device_sysfs_remove(&iommu->iommu);
#ifndef FAKE_IOMMU_HAS_MOCK_BUS
err_fwnode:
	fwnode_remove_software_node(iommu->fwnode);
#endif
err_ida:
	iopf_queue_free(iommu->iopf_queue);
	ida_free(&fake_iommu_ida, iommu->id);
err_free:
	kref_put(&iommu->rec->ref, fake_record_free);
	kfree(iommu);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_GPL(fake_iommu_kunit_create);

/**
 * fake_iommu_kunit_destroy() - unregister an instance now
 * @test: the test that created it
 * @iommu: an instance from fake_iommu_kunit_create() for @test
 *
 * As at the end of @test, in its middle: the instance's devices must be
 * gone first (fake_iommu_kunit_remove_device()).
 */
void fake_iommu_kunit_destroy(struct kunit *test, struct fake_iommu *iommu)
{
	kunit_release_action(test, fake_iommu_destroy_action, iommu);
}
EXPORT_SYMBOL_GPL(fake_iommu_kunit_destroy);

/**
 * fake_iommu_newest_instance() - when the newest instance was registered
 *
 * What a test allocated before that moment is at least as old, which
 * matters to kmemleak: it reports no object younger than a few seconds.
 *
 * Return: the jiffies of the newest instance's registration, or 0 when
 * no instance has been registered yet.
 */
unsigned long fake_iommu_newest_instance(void)
{
	return READ_ONCE(fake_newest_instance);
}
EXPORT_SYMBOL_GPL(fake_iommu_newest_instance);

/**
 * fake_iommu_id() - the instance number that the call record shows
 * @iommu: the instance
 *
 * Return: the id, the lowest free one when the instance was created.
 */
int fake_iommu_id(const struct fake_iommu *iommu)
{
	return iommu->id;
}
EXPORT_SYMBOL_GPL(fake_iommu_id);

static void fake_iommu_group_release(void *data)
{
	struct fake_iommu_group *fgroup = data;

	if (fgroup->group)
		iommu_group_put(fgroup->group);
}

/**
 * fake_iommu_kunit_group() - a group that several devices can share
 * @test: the test that owns it
 *
 * Pass the result to fake_iommu_kunit_add_device() for every device that
 * is to be in one iommu_group (behind one PCIe bridge, say).
 *
 * Return: the group, or an ERR_PTR.
 */
struct fake_iommu_group *fake_iommu_kunit_group(struct kunit *test)
{
	struct fake_iommu_group *fgroup;
	int ret;

	fgroup = kunit_kzalloc(test, sizeof(*fgroup), GFP_KERNEL);
	if (!fgroup)
		return ERR_PTR(-ENOMEM);
	ret = kunit_add_action_or_reset(test, fake_iommu_group_release, fgroup);
	return ret ? ERR_PTR(ret) : fgroup;
}
EXPORT_SYMBOL_GPL(fake_iommu_kunit_group);

/**
 * fake_iommu_remove_device() - unregister a client device
 * @dev: a device from fake_iommu_kunit_add_device()
 *
 * The core releases it from its group as on a hot unplug.
 */
void fake_iommu_remove_device(struct device *dev)
{
#ifdef FAKE_IOMMU_HAS_MOCK_BUS
	device_unregister(dev);
#else
	platform_device_unregister(to_platform_device(dev));
#endif
}
EXPORT_SYMBOL_GPL(fake_iommu_remove_device);

KUNIT_DEFINE_ACTION_WRAPPER(fake_iommu_remove_device_action,
			    fake_iommu_remove_device, struct device *);

/**
 * fake_iommu_kunit_remove_device() - unplug a client device now
 * @test: the test that added it
 * @dev: a device from fake_iommu_kunit_add_device() for @test
 *
 * As fake_iommu_remove_device(), in the middle of @test instead of at its
 * end. @dev is freed on return: keep its name for the call record.
 */
void fake_iommu_kunit_remove_device(struct kunit *test, struct device *dev)
{
	kunit_release_action(test, fake_iommu_remove_device_action, dev);
}
EXPORT_SYMBOL_GPL(fake_iommu_kunit_remove_device);

/**
 * fake_iommu_kunit_disown_device() - let a client device outlive its test
 * @test: the test that added it
 * @dev: a device from fake_iommu_kunit_add_device() for @test
 *
 * @test no longer removes @dev when it ends: the caller does, with
 * fake_iommu_remove_device(), from a thread that may outlive @test.
 */
void fake_iommu_kunit_disown_device(struct kunit *test, struct device *dev)
{
	kunit_remove_action(test, fake_iommu_remove_device_action, dev);
}
EXPORT_SYMBOL_GPL(fake_iommu_kunit_disown_device);

/**
 * fake_iommu_kunit_add_device() - add a client device behind an instance
 * @test: the test that owns it; it is removed when the test ends
 * @iommu: the instance that translates for it
 * @group: a group from fake_iommu_kunit_group(), or NULL for a group of its
 *	own
 * @max_pasids: 0 (no PASID support) or a power of two, given to the core as
 *	the "pasid-num-bits" property and clamped by the instance
 *
 * The core probes the device while it is added, the normal way.
 *
 * Return: the device, or an ERR_PTR.
 */
struct device *fake_iommu_kunit_add_device(struct kunit *test,
					   struct fake_iommu *iommu,
					   struct fake_iommu_group *group,
					   u32 max_pasids)
{
	struct property_entry props[] = {
		PROPERTY_ENTRY_U32("pasid-num-bits", ilog2(max_pasids ?: 1)),
		{ }
	};
	struct fake_iommu_client *client;
	struct device *dev;
	int ret;

	if (max_pasids && !is_power_of_2(max_pasids))
		return ERR_PTR(-EINVAL);

	client = kzalloc_obj(*client);
	if (!client)
		return ERR_PTR(-ENOMEM);
#ifdef FAKE_IOMMU_HAS_MOCK_BUS
	ret = ida_alloc(&fake_client_ida, GFP_KERNEL);
	if (ret < 0) {
		kfree(client);
		return ERR_PTR(ret);
	}
	client->id = ret;
#endif
	client->iommu = iommu;
	client->group = group;
	xa_init(&client->pasids);
	xa_init(&client->removed);
	xa_init(&client->pending);
	mutex_init(&client->prq_lock);
#ifdef FAKE_IOMMU_HAS_MOCK_BUS
	dev = &client->dev;
	device_initialize(dev);
	dev->bus = &fake_iommu_bus;
	dev->release = fake_client_release;
	ret = dev_set_name(dev, "fake-iommu-client.%d", client->id);
	if (ret)
		goto err_put;
#else
	client->pdev.name = "fake-iommu-client";
	client->pdev.id = PLATFORM_DEVID_AUTO;
	dev = &client->pdev.dev;
	device_initialize(dev);
	dev->release = fake_client_release;
#endif

	if (max_pasids) {
		ret = device_create_managed_software_node(dev, props, NULL);
		if (ret)
			goto err_put;
	}

#ifdef FAKE_IOMMU_HAS_MOCK_BUS
	ret = iommu_mock_device_add(dev, &iommu->iommu);
	if (ret)
		goto err_put;
#else
	mutex_lock(&iommu_probe_device_lock);
	ret = iommu_fwspec_init(dev, iommu->fwnode);
	mutex_unlock(&iommu_probe_device_lock);
	if (ret)
		goto err_put;

	ret = platform_device_add(&client->pdev);
	if (ret)
		goto err_put;
#endif

	if (!dev->iommu_group) {
		/* The core's probe failed: its reason is in the log. */
		fake_iommu_remove_device(dev);
		return ERR_PTR(-ENODEV);
	}

	ret = kunit_add_action_or_reset(test, fake_iommu_remove_device_action,
					dev);
	return ret ? ERR_PTR(ret) : dev;

err_put:
	put_device(dev);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_GPL(fake_iommu_kunit_add_device);

static struct fake_iommu_client *fake_client_checked(struct device *dev)
{
	struct fake_iommu_client *client = fake_client_of(dev);

	WARN_ON(!client);
	return client;
}

/**
 * fake_iommu_dev_enable_sva() - prepare a device for SVA binds
 * @dev: a device from fake_iommu_kunit_add_device()
 *
 * A device that was never prepared refuses SVA domains with -ENODEV.
 * Where the device's driver enables IO page faults (IOMMU_DEV_FEAT_IOPF),
 * this enables them first.
 *
 * Return: 0, or -ENODEV for a device without PASID support.
 */
int fake_iommu_dev_enable_sva(struct device *dev)
{
#ifdef FAKE_IOMMU_HAS_DEV_FEAT_SVA
#ifdef FAKE_IOMMU_HAS_DEV_FEAT_IOPF
	/*
	 * The device's driver enables IO page faults, then SVA, through the
	 * core, as idxd does.
	 */
	int ret = iommu_dev_enable_feature(dev, IOMMU_DEV_FEAT_IOPF);

	if (ret && ret != -EBUSY)
		return ret;
#endif
	return iommu_dev_enable_feature(dev, IOMMU_DEV_FEAT_SVA);
#else
	/*
	 * An IOMMU driver prepares its devices for SVA by itself; the fake
	 * one waits until the test asks, so that a test can also have a
	 * device that was never prepared.
	 */
	if (!fake_client_checked(dev))
		return -EINVAL;
	return fake_enable_sva(dev);
#endif
}
EXPORT_SYMBOL_GPL(fake_iommu_dev_enable_sva);

/**
 * fake_iommu_inject_fault() - fail the n-th call at a site on an instance
 * @iommu: the instance
 * @site: which callback fails
 * @nth: 1 for the next call, 2 for the one after, ...; 0 disarms
 * @err: the negative errno it returns
 */
void fake_iommu_inject_fault(struct fake_iommu *iommu,
			     enum fake_iommu_fault_site site,
			     unsigned int nth, int err)
{
	iommu->faults[site] = (struct fake_iommu_fault) { .nth = nth, .err = err };
}
EXPORT_SYMBOL_GPL(fake_iommu_inject_fault);

/**
 * fake_iommu_dev_inject_fault() - fail the n-th call at a site for a device
 * @dev: a device from fake_iommu_kunit_add_device()
 * @site: which callback fails
 * @nth: 1 for the next call, 2 for the one after, ...; 0 disarms
 * @err: the negative errno it returns
 */
void fake_iommu_dev_inject_fault(struct device *dev,
				 enum fake_iommu_fault_site site,
				 unsigned int nth, int err)
{
	struct fake_iommu_client *client = fake_client_checked(dev);

	if (client)
		client->faults[site] =
			(struct fake_iommu_fault) { .nth = nth, .err = err };
}
EXPORT_SYMBOL_GPL(fake_iommu_dev_inject_fault);

/**
 * fake_iommu_dev_pasids_set() - PASIDs set on a device and not removed
 * @dev: a device from fake_iommu_kunit_add_device()
 *
 * Return: the number of PASIDs the driver has programmed for @dev now.
 */
unsigned int fake_iommu_dev_pasids_set(struct device *dev)
{
	struct fake_iommu_client *client = fake_client_checked(dev);
	unsigned long index;
	unsigned int n = 0;
	void *entry;

	if (client)
		xa_for_each(&client->pasids, index, entry)
			n++;
	return n;
}
EXPORT_SYMBOL_GPL(fake_iommu_dev_pasids_set);

/**
 * fake_iommu_dev_pasid_set() - whether the driver has @pasid set on @dev
 * @dev: a device from fake_iommu_kunit_add_device()
 * @pasid: the PASID
 *
 * Return: true from a successful set_dev_pasid() for it until the core
 * takes the domain off that PASID again.
 */
bool fake_iommu_dev_pasid_set(struct device *dev, u32 pasid)
{
	struct fake_iommu_client *client = fake_client_checked(dev);

	return client && xa_load(&client->pasids, pasid);
}
EXPORT_SYMBOL_GPL(fake_iommu_dev_pasid_set);

/**
 * fake_iommu_dev_pasid_domain() - which domain the driver has on a PASID
 * @dev: a device from fake_iommu_kunit_add_device()
 * @pasid: the PASID
 *
 * Return: the fake_iommu_domain_id() of the domain set on @pasid of @dev,
 * or 0 when none is.
 */
unsigned int fake_iommu_dev_pasid_domain(struct device *dev, u32 pasid)
{
	struct fake_iommu_client *client = fake_client_checked(dev);
	struct fake_domain *fdom = client ? xa_load(&client->pasids, pasid) :
				   NULL;

	return fdom ? fdom->seq : 0;
}
EXPORT_SYMBOL_GPL(fake_iommu_dev_pasid_domain);

/**
 * fake_iommu_live_domains() - domains allocated and not yet freed
 * @test: the test whose instances allocated them
 *
 * Return: the number, over every instance of @test.
 */
int fake_iommu_live_domains(struct kunit *test)
{
	struct fake_iommu_record *rec = fake_record_of(test);

	return rec ? atomic_read(&rec->live_domains) : 0;
}
EXPORT_SYMBOL_GPL(fake_iommu_live_domains);

/**
 * fake_iommu_log_reset() - empty a test's call record, forget its watched mm
 * @test: the test
 *
 * Domain numbers go on: a number names one domain for the whole boot.
 * Contract violations stay counted: the test fails at its end for them.
 */
void fake_iommu_log_reset(struct kunit *test)
{
	struct fake_iommu_record *rec = fake_record_of(test);
	unsigned long flags;

	if (!rec)
		return;
	spin_lock_irqsave(&rec->lock, flags);
	rec->len = 0;
	rec->lost = 0;
	memset(rec->totals, 0, sizeof(rec->totals));
	WRITE_ONCE(rec->watched_mm, NULL);
	spin_unlock_irqrestore(&rec->lock, flags);
}
EXPORT_SYMBOL_GPL(fake_iommu_log_reset);

/**
 * fake_iommu_watch_mm() - record @mm's mm_count in the free op too
 * @test: the test whose instances are to watch it
 * @mm: an mm the caller keeps a reference to until the next
 *	fake_iommu_log_reset(), or the end of @test
 *
 * Lets a test see whether the core dropped its reference before it asked
 * the driver to free the domain.
 */
void fake_iommu_watch_mm(struct kunit *test, struct mm_struct *mm)
{
	struct fake_iommu_record *rec = fake_record_of(test);

	if (rec)
		WRITE_ONCE(rec->watched_mm, mm);
}
EXPORT_SYMBOL_GPL(fake_iommu_watch_mm);

/**
 * fake_iommu_log_len() - number of calls recorded since the last reset
 * @test: the test whose instances were called
 *
 * Return: the number of entries that fake_iommu_log_entry() can return.
 */
unsigned int fake_iommu_log_len(struct kunit *test)
{
	struct fake_iommu_record *rec = fake_record_of(test);

	/* Pairs with fake_record_call(): the entries below it are whole. */
	return rec ? smp_load_acquire(&rec->len) : 0;
}
EXPORT_SYMBOL_GPL(fake_iommu_log_len);

/**
 * fake_iommu_log_entry() - one recorded call
 * @test: the test whose instances were called
 * @i: its index, from 0
 *
 * Return: the entry, or NULL past the end.
 */
const struct fake_iommu_call *fake_iommu_log_entry(struct kunit *test,
						   unsigned int i)
{
	return fake_record_entry(fake_record_of(test), i);
}
EXPORT_SYMBOL_GPL(fake_iommu_log_entry);

/**
 * fake_iommu_log() - every whole entry of a test's call record at once
 * @test: the test whose instances were called
 * @len: set to the number of entries
 *
 * For a reader that walks the record often: one lookup instead of one
 * per entry. Entries after the @len-th may be written meanwhile.
 *
 * Return: the first entry, or NULL (and @len 0) before the first instance.
 */
const struct fake_iommu_call *fake_iommu_log(struct kunit *test,
					     unsigned int *len)
{
	struct fake_iommu_record *rec = fake_record_of(test);

	/* Pairs with fake_record_call(): the entries below it are whole. */
	*len = rec ? smp_load_acquire(&rec->len) : 0;
	return rec ? rec->log : NULL;
}
EXPORT_SYMBOL_GPL(fake_iommu_log);

static bool fake_call_matches(const struct fake_iommu_call *call,
			      enum fake_iommu_op op, const struct device *dev)
{
	return call->op == op && (!dev || !strcmp(call->dev, dev_name(dev)));
}

static int fake_record_find(struct fake_iommu_record *rec,
			    enum fake_iommu_op op, const struct device *dev,
			    unsigned int from)
{
	const struct fake_iommu_call *c;
	unsigned int i;

	for (i = from; (c = fake_record_entry(rec, i)); i++)
		if (fake_call_matches(c, op, dev))
			return i;
	return -1;
}

/**
 * fake_iommu_log_count() - how often a callback was recorded
 * @test: the test whose instances were called
 * @op: the callback
 * @dev: only calls for this device, or NULL for all
 *
 * Return: the number of matching calls, failed ones included.
 */
unsigned int fake_iommu_log_count(struct kunit *test, enum fake_iommu_op op,
				  const struct device *dev)
{
	struct fake_iommu_record *rec = fake_record_of(test);
	const struct fake_iommu_call *c;
	unsigned int i, n = 0;

	for (i = 0; (c = fake_record_entry(rec, i)); i++)
		n += fake_call_matches(c, op, dev);
	return n;
}
EXPORT_SYMBOL_GPL(fake_iommu_log_count);

/**
 * fake_iommu_call_total() - how often a callback ran since the last reset
 * @test: the test whose instances were called
 * @op: the callback
 * @failed: count the calls that returned an error instead of the others
 *
 * Unlike fake_iommu_log_count(), this counts calls the full log dropped.
 *
 * Return: the number of calls.
 */
unsigned int fake_iommu_call_total(struct kunit *test, enum fake_iommu_op op,
				   bool failed)
{
	struct fake_iommu_record *rec = fake_record_of(test);
	unsigned long flags;
	unsigned int n;

	if (!rec)
		return 0;
	spin_lock_irqsave(&rec->lock, flags);
	n = rec->totals[op][failed];
	spin_unlock_irqrestore(&rec->lock, flags);
	return n;
}
EXPORT_SYMBOL_GPL(fake_iommu_call_total);

/**
 * fake_iommu_invalidations() - invalidations a domain's notifier received
 * @domain: an SVA domain of an instance with &fake_iommu_config.mm_notifier
 * @start: count only invalidations of exactly [@start, @end)
 * @end: see @start
 *
 * A test passes a range of its own so that invalidations the kernel makes
 * meanwhile (of kernel page tables, say) are not counted.
 *
 * Return: the number of arch_invalidate_secondary_tlbs() calls recorded.
 */
unsigned int fake_iommu_invalidations(const struct iommu_domain *domain,
				      unsigned long start, unsigned long end)
{
	const struct fake_domain *fdom =
		container_of(domain, struct fake_domain, domain);
	const struct fake_iommu_call *c;
	unsigned int i, n = 0;

	for (i = 0; (c = fake_record_entry(fdom->rec, i)); i++)
		n += c->op == FAKE_OP_INVALIDATE && c->domain == fdom->seq &&
		     c->start == start && c->end == end;
	return n;
}
EXPORT_SYMBOL_GPL(fake_iommu_invalidations);

/**
 * fake_iommu_domain_id() - the number that names a domain in the record
 * @domain: a live domain of the fake driver
 *
 * Lets a test tell which of its domains a recorded call was for.
 *
 * Return: the &fake_iommu_call.domain of the calls for @domain.
 */
unsigned int fake_iommu_domain_id(const struct iommu_domain *domain)
{
	return container_of(domain, struct fake_domain, domain)->seq;
}
EXPORT_SYMBOL_GPL(fake_iommu_domain_id);

/**
 * fake_iommu_log_find() - index of the first matching call from @from on
 * @test: the test whose instances were called
 * @op: the callback
 * @dev: only calls for this device, or NULL for all
 * @from: index to start at
 *
 * Return: the index, or -1 when there is none.
 */
int fake_iommu_log_find(struct kunit *test, enum fake_iommu_op op,
			const struct device *dev, unsigned int from)
{
	return fake_record_find(fake_record_of(test), op, dev, from);
}
EXPORT_SYMBOL_GPL(fake_iommu_log_find);

/**
 * fake_iommu_wait_call() - wait until a callback is recorded
 * @test: the test whose instances are to be called
 * @op: the callback
 * @dev: only calls for this device, or NULL for all
 * @from: only entries from this index on
 * @timeout: how long to wait, in jiffies
 *
 * Waits on the record itself: every new entry wakes the waiter.
 *
 * Context: process context; sleeps.
 * Return: the index of the first matching entry, or -1 when none was
 * recorded within @timeout, or the record is full (entries were lost).
 */
int fake_iommu_wait_call(struct kunit *test, enum fake_iommu_op op,
			 const struct device *dev, unsigned int from,
			 unsigned long timeout)
{
	struct fake_iommu_record *rec = fake_record_of(test);
	int i = -1;

	if (rec)
		wait_event_timeout(rec->changed,
				   (i = fake_record_find(rec, op, dev, from)) >= 0 ||
				   READ_ONCE(rec->lost), timeout);
	return i;
}
EXPORT_SYMBOL_GPL(fake_iommu_wait_call);

/**
 * fake_iommu_report_page_req() - the hardware reports a page request
 * @dev: a device from fake_iommu_kunit_add_device(), which sent it
 * @req: what it asks for
 *
 * As a driver's page request thread does: iommu_report_device_fault(),
 * under the device's page request queue, which the release of a PASID
 * drains. From its first request on, the group waits for one response.
 *
 * Context: process context; sleeps. Not under the group mutex, inside
 * which the drain of a PASID's release takes the page request queue.
 * Return: what iommu_report_device_fault() returned: 0 once the core took
 * the request; an error once it answered the request itself, or for a
 * request it could not keep. -ENOMEM when the fake hardware could not
 * note the group, -EINVAL for a device of another driver: then nothing
 * was reported.
 */
int fake_iommu_report_page_req(struct device *dev,
			       const struct fake_iommu_page_req *req)
{
	struct fake_iommu_client *client = fake_client_checked(dev);
	bool pasid_valid = req->pasid != IOMMU_NO_PASID;
	struct iopf_fault evt = {
		.fault = {
			.type = IOMMU_FAULT_PAGE_REQ,
			.prm = {
				.flags = (pasid_valid ?
					  IOMMU_FAULT_PAGE_REQUEST_PASID_VALID : 0) |
					 (req->last ?
					  IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE : 0),
				.pasid = pasid_valid ? req->pasid : 0,
				.grpid = req->grpid,
				.perm = req->perm,
				.addr = req->addr,
			},
		},
	};
	int ret;

	if (!client)
		return -EINVAL;
	mutex_lock(&client->prq_lock);
	ret = xa_insert(&client->pending, req->grpid,
			xa_mk_value(evt.fault.prm.pasid), GFP_KERNEL);
	/* A later request of a group that is already waiting */
	if (ret == -EBUSY)
		ret = 0;
	if (!ret)
		ret = iommu_report_device_fault(dev, &evt);
	mutex_unlock(&client->prq_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(fake_iommu_report_page_req);

/* ---- the address space of a process the devices work for ---- */

static struct mm_struct *fake_lazy_mm;

static void fake_use_lazy_mm(struct work_struct *work)
{
	kthread_use_mm(fake_lazy_mm);
	kthread_unuse_mm(fake_lazy_mm);
}

/**
 * fake_iommu_drop_lazy_mms() - let no CPU keep an mm as its lazy TLB mm
 *
 * A CPU that ran a task of an mm and then a kernel thread keeps that mm
 * as its lazy TLB mm, with an mm_count of its own, until a task of
 * another mm runs there: kthread_unuse_mm() leaves the mm so, and a
 * child's exit_mm() its own. In a KUnit kernel no such task may ever
 * come, and the mm's PASID would outlive the test. A kernel thread on
 * every CPU switches to a scratch mm instead, which drops those
 * references.
 *
 * Context: process context; sleeps.
 * Return: 0, or -ENOMEM.
 */
int fake_iommu_drop_lazy_mms(void)
{
	static DEFINE_MUTEX(lock);
	struct work_struct __percpu *works;
	struct mm_struct *scratch;
	int cpu;

	works = alloc_percpu(struct work_struct);
	scratch = mm_alloc();
	if (!works || !scratch) {
		free_percpu(works);
		if (scratch)
			mmput(scratch);
		return -ENOMEM;
	}
	mutex_lock(&lock);
	fake_lazy_mm = scratch;
	cpus_read_lock();
	for_each_online_cpu(cpu) {
		INIT_WORK(per_cpu_ptr(works, cpu), fake_use_lazy_mm);
		schedule_work_on(cpu, per_cpu_ptr(works, cpu));
	}
	for_each_online_cpu(cpu)
		flush_work(per_cpu_ptr(works, cpu));
	cpus_read_unlock();
	fake_lazy_mm = NULL;
	mutex_unlock(&lock);
	free_percpu(works);
	/* The CPUs' lazy references keep the scratch mm until they move on. */
	mmput(scratch);
	return 0;
}
EXPORT_SYMBOL_GPL(fake_iommu_drop_lazy_mms);

/**
 * fake_iommu_mmap() - map anonymous memory into a process's address space
 * @mm: an mm from mm_alloc(), whose mm_users the caller holds
 * @len: how many bytes
 * @prot: PROT_READ, PROT_WRITE, PROT_EXEC, as mmap() takes them
 *
 * As the process would with mmap(MAP_PRIVATE | MAP_ANONYMOUS), without
 * huge pages, so that a page request brings in one page. The first
 * mapping lays the address space out, as exec does. Afterwards no CPU
 * keeps @mm as its lazy TLB mm: its mm_count is what it was.
 *
 * Context: a kernel thread (KUnit runs each test in one); sleeps.
 * Return: the address, or a negative errno (IS_ERR_VALUE()).
 */
unsigned long fake_iommu_mmap(struct mm_struct *mm, size_t len,
			      unsigned long prot)
{
	unsigned long addr;
	int ret;

	if (!mm->task_size) {
		mm->task_size = TASK_SIZE;
		arch_pick_mmap_layout(mm, &current->signal->rlim[RLIMIT_STACK]);
	}
	kthread_use_mm(mm);
	addr = vm_mmap(NULL, 0, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, 0);
	kthread_unuse_mm(mm);
	if (!IS_ERR_VALUE(addr)) {
		struct vm_area_struct *vma;

		mmap_write_lock(mm);
		vma = vma_lookup(mm, addr);
		if (vma)
			vm_flags_set(vma, VM_NOHUGEPAGE);
		mmap_write_unlock(mm);
	}
	ret = fake_iommu_drop_lazy_mms();
	return ret ? ret : addr;
}
EXPORT_SYMBOL_GPL(fake_iommu_mmap);

/**
 * fake_iommu_page_present() - whether a process has a page at an address
 * @mm: the process's mm
 * @addr: the address
 * @write: whether the page must be writable
 *
 * Without faulting one in. A process that exited has none.
 *
 * Context: process context; sleeps.
 * Return: true when @addr of @mm has a page, writable for @write.
 */
bool fake_iommu_page_present(struct mm_struct *mm, unsigned long addr,
			     bool write)
{
	struct page *page;
	long got;

	if (!mmget_not_zero(mm))
		return false;
	mmap_read_lock(mm);
	got = get_user_pages_remote(mm, addr, 1,
				    FOLL_NOFAULT | (write ? FOLL_WRITE : 0),
				    &page, NULL);
	mmap_read_unlock(mm);
	mmput(mm);
	if (got == 1)
		put_page(page);
	return got == 1;
}
EXPORT_SYMBOL_GPL(fake_iommu_page_present);

/**
 * fake_iommu_dev_iopf_users() - why a device is in its fault queue
 * @dev: a device from fake_iommu_kunit_add_device()
 *
 * Read without a lock: call it when no bind, unbind or feature change of
 * the device is under way.
 *
 * Return: the number of fault-capable domains set on its PASIDs where the
 * IOMMU driver enables IO page faults itself, else 1 while its driver has
 * IOMMU_DEV_FEAT_IOPF enabled; 0 when the device is not in the queue.
 */
unsigned int fake_iommu_dev_iopf_users(struct device *dev)
{
	struct fake_iommu_client *client = fake_client_checked(dev);

	return client ? client->iopf_users : 0;
}
EXPORT_SYMBOL_GPL(fake_iommu_dev_iopf_users);

/**
 * fake_iommu_violations() - contract violations during a test
 * @test: the test whose instances saw them
 *
 * Each one has already WARNed and failed the test that was running, and
 * fails @test when it ends; fake_iommu_log_dump() prints the first few.
 *
 * Return: how many times the core broke the driver contract.
 */
unsigned int fake_iommu_violations(struct kunit *test)
{
	struct fake_iommu_record *rec = fake_record_of(test);

	return rec ? READ_ONCE(rec->violation_count) : 0;
}
EXPORT_SYMBOL_GPL(fake_iommu_violations);

/**
 * fake_iommu_log_dump() - print a test's call record into its log
 * @test: the test
 *
 * For assertion messages: a wrong order or count reads from the output.
 */
void fake_iommu_log_dump(struct kunit *test)
{
	struct fake_iommu_record *rec = fake_record_of(test);

	if (rec)
		fake_record_dump(test, rec);
	else
		kunit_info(test, "no fake IOMMU call record: no instance\n");
}
EXPORT_SYMBOL_GPL(fake_iommu_log_dump);

#ifdef FAKE_IOMMU_HAS_MOCK_BUS
static int __init fake_iommu_init(void)
{
	return bus_register(&fake_iommu_bus);
}
module_init(fake_iommu_init);

static void __exit fake_iommu_exit(void)
{
	bus_unregister(&fake_iommu_bus);
}
module_exit(fake_iommu_exit);
#endif

/* mm_alloc() and arch_pick_mmap_layout(), for fake_iommu_mmap() */
#ifdef FAKE_IOMMU_NS_UNQUOTED
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
#else
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");
#endif

MODULE_DESCRIPTION("Fake multi-instance IOMMU driver for KUnit tests");
MODULE_LICENSE("GPL");
