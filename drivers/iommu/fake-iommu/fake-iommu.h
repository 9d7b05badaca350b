/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fake multi-instance IOMMU driver for KUnit tests of the IOMMU core.
 *
 * Every instance is a real struct iommu_device registered with the core,
 * with its own software fwnode; client devices carry a fwspec for the
 * fwnode of their instance, through which the core probes them, as on a
 * firmware-described system. Only the hardware is fake: the core code
 * under test is the real one.
 */
#ifndef __FAKE_IOMMU_H
#define __FAKE_IOMMU_H

#include <linux/iommu.h>
#include <linux/slab.h>
#include <linux/types.h>
#ifndef kzalloc_obj
/* kzalloc_obj() came with v7.0; earlier trees get what it stands for. */
#define kzalloc_obj(P)	kzalloc(sizeof(P), GFP_KERNEL)
#endif

struct device;
struct kunit;
struct mm_struct;
struct fake_iommu;
struct fake_iommu_group;

/**
 * enum fake_iommu_policy - which SVA domains an instance accepts
 * @FAKE_IOMMU_SHARE_ANY: any SVA domain of the same driver (VT-d like)
 * @FAKE_IOMMU_SHARE_OWN: only SVA domains it allocated itself; a foreign
 *	one gets -EINVAL from set_dev_pasid (SMMUv3 like)
 */
enum fake_iommu_policy {
	FAKE_IOMMU_SHARE_ANY,
	FAKE_IOMMU_SHARE_OWN,
};

/**
 * enum fake_iommu_driver - which of the two fake drivers runs an instance
 * @FAKE_IOMMU_DRIVER_A: the first set of iommu_ops
 * @FAKE_IOMMU_DRIVER_B: a second, distinct set of iommu_ops, so that the
 *	core's domain owner check sees two drivers
 */
enum fake_iommu_driver {
	FAKE_IOMMU_DRIVER_A,
	FAKE_IOMMU_DRIVER_B,
};

/**
 * enum fake_iommu_op - driver callbacks in the call record
 * @FAKE_OP_DOMAIN_ALLOC_SVA: domain_alloc_sva()
 * @FAKE_OP_DOMAIN_ALLOC_PAGING: domain_alloc_paging()
 * @FAKE_OP_SET_DEV_PASID: set_dev_pasid() of a PASID that had no domain (or
 *	the blocked one), whatever it returned
 * @FAKE_OP_REPLACE_DEV_PASID: set_dev_pasid() that replaces another domain
 *	on the PASID, whatever it returned
 * @FAKE_OP_REMOVE_DEV_PASID: the core took a domain off a PASID;
 *	fake_iommu_op_name() names the callback it used
 * @FAKE_OP_DOMAIN_FREE: the free op of a domain
 * @FAKE_OP_ENABLE_SVA: SVA enabled on a device, through
 *	fake_iommu_dev_enable_sva()
 * @FAKE_OP_INVALIDATE: arch_invalidate_secondary_tlbs() of the notifier
 *	that a domain registered on its mm
 * @FAKE_OP_IOPF_ENABLE: the driver added a device to its instance's IO page
 *	fault queue: before the first fault-capable domain is set on one of
 *	its PASIDs, or for IOMMU_DEV_FEAT_IOPF where the core has that
 * @FAKE_OP_IOPF_DISABLE: the driver took a device out of the queue: when
 *	the last fault-capable domain left it, for IOMMU_DEV_FEAT_IOPF, or
 *	on release
 * @FAKE_OP_IOPF_DRAIN: the driver releases a PASID of a device in the
 *	queue, or the device itself (no PASID), and begins to drain its page
 *	requests: it waits for the reports in progress, then
 *	iopf_queue_flush_dev()
 * @FAKE_OP_PAGE_RESPONSE: page_response(), with the group and the code
 * @FAKE_OP_RELEASE_PASID: release_device() stopped using a domain still
 *	set on a PASID of the device, which the core will not take off: one
 *	call for each, before the device's release_device call
 * @FAKE_OP_RELEASE_DEVICE: release_device(); ret is -EBUSY when a
 *	domain was still set on one of the device's PASIDs
 * @FAKE_OP_COUNT: number of operations
 */
enum fake_iommu_op {
	FAKE_OP_DOMAIN_ALLOC_SVA,
	FAKE_OP_DOMAIN_ALLOC_PAGING,
	FAKE_OP_SET_DEV_PASID,
	FAKE_OP_REPLACE_DEV_PASID,
	FAKE_OP_REMOVE_DEV_PASID,
	FAKE_OP_DOMAIN_FREE,
	FAKE_OP_ENABLE_SVA,
#ifdef FAKE_IOMMU_HAS_DEV_FEAT_SVA
	/** @FAKE_OP_DISABLE_SVA: dev_disable_feat(IOMMU_DEV_FEAT_SVA) */
	FAKE_OP_DISABLE_SVA,
#endif
	FAKE_OP_INVALIDATE,
	FAKE_OP_IOPF_ENABLE,
	FAKE_OP_IOPF_DISABLE,
	FAKE_OP_IOPF_DRAIN,
	FAKE_OP_PAGE_RESPONSE,
	FAKE_OP_RELEASE_PASID,
	FAKE_OP_RELEASE_DEVICE,
	FAKE_OP_COUNT,
};

/**
 * enum fake_iommu_fault_site - where an injected failure strikes
 * @FAKE_FAULT_DOMAIN_ALLOC: SVA and paging domain allocation
 * @FAKE_FAULT_SET_DEV_PASID: set_dev_pasid()
 * @FAKE_FAULT_NR: number of sites
 */
enum fake_iommu_fault_site {
	FAKE_FAULT_DOMAIN_ALLOC,
	FAKE_FAULT_SET_DEV_PASID,
	FAKE_FAULT_NR,
};

/**
 * struct fake_iommu_config - how to build an instance
 * @policy: which SVA domains it accepts
 * @driver: which fake driver (iommu_ops) runs it
 * @max_pasids: the instance's iommu_device.max_pasids; devices are clamped
 *	to it. 0 means the default, 1 << 20.
 * @mm_notifier: each SVA domain registers an mmu_notifier with
 *	arch_invalidate_secondary_tlbs() on its mm, as SVA drivers do. Off by
 *	default: the notifier holds an mm_count of its own, which would hide
 *	a core that forgot its own reference from KASAN.
 */
struct fake_iommu_config {
	enum fake_iommu_policy policy;
	enum fake_iommu_driver driver;
	u32 max_pasids;
	bool mm_notifier;
};

/**
 * struct fake_iommu_call - one callback the fake driver received
 * @op: the callback
 * @instance: id of the instance that ran it
 * @dev: name of the client device, "" where there is none
 * @pasid: the PASID, IOMMU_NO_PASID where there is none
 * @domain: the domain's number (fake_iommu_domain_id()), 0 where none
 * @domain_type: the domain's IOMMU_DOMAIN_* type, 0 where none
 * @mm_count: mm_count of the domain's mm at that moment, or -1 where the
 *	driver must not look (the free op, unless the mm is watched)
 * @ret: what the callback returned
 * @start: first address of an invalidation, 0 for other callbacks
 * @end: end of an invalidation, 0 for other callbacks
 * @grpid: the page request group a page response answers, else 0
 * @code: the &enum iommu_page_response_code of a page response, else 0
 * @iopf_queued: for set_dev_pasid(), whether the device was in its
 *	instance's fault queue when the driver programmed the PASID
 */
struct fake_iommu_call {
	enum fake_iommu_op op;
	int instance;
	char dev[32];
	u32 pasid;
	unsigned int domain;
	unsigned int domain_type;
	int mm_count;
	int ret;
	unsigned long start;
	unsigned long end;
	u32 grpid;
	int code;
	bool iopf_queued;
};

/**
 * struct fake_iommu_page_req - a page request, as the hardware reports it
 * @addr: the faulting address
 * @pasid: its PASID, or IOMMU_NO_PASID for a request without one
 * @perm: IOMMU_FAULT_PERM_READ, _WRITE, _EXEC, _PRIV
 * @grpid: the page request group
 * @last: the last request of its group: the one the device wants answered
 */
struct fake_iommu_page_req {
	unsigned long addr;
	u32 pasid;
	u32 perm;
	u32 grpid;
	bool last;
};

struct fake_iommu *fake_iommu_kunit_create(struct kunit *test,
					   const struct fake_iommu_config *cfg);
void fake_iommu_kunit_destroy(struct kunit *test, struct fake_iommu *iommu);
int fake_iommu_id(const struct fake_iommu *iommu);
unsigned long fake_iommu_newest_instance(void);
struct fake_iommu_group *fake_iommu_kunit_group(struct kunit *test);
struct device *fake_iommu_kunit_add_device(struct kunit *test,
					   struct fake_iommu *iommu,
					   struct fake_iommu_group *group,
					   u32 max_pasids);
void fake_iommu_remove_device(struct device *dev);
void fake_iommu_kunit_remove_device(struct kunit *test, struct device *dev);
void fake_iommu_kunit_disown_device(struct kunit *test, struct device *dev);
int fake_iommu_dev_enable_sva(struct device *dev);

void fake_iommu_inject_fault(struct fake_iommu *iommu,
			     enum fake_iommu_fault_site site,
			     unsigned int nth, int err);
void fake_iommu_dev_inject_fault(struct device *dev,
				 enum fake_iommu_fault_site site,
				 unsigned int nth, int err);

unsigned int fake_iommu_dev_pasids_set(struct device *dev);
bool fake_iommu_dev_pasid_set(struct device *dev, u32 pasid);
unsigned int fake_iommu_dev_pasid_domain(struct device *dev, u32 pasid);
int fake_iommu_live_domains(struct kunit *test);
const char *fake_iommu_op_name(enum fake_iommu_op op);

void fake_iommu_log_reset(struct kunit *test);
void fake_iommu_watch_mm(struct kunit *test, struct mm_struct *mm);
unsigned int fake_iommu_log_len(struct kunit *test);
const struct fake_iommu_call *fake_iommu_log_entry(struct kunit *test,
						   unsigned int i);
const struct fake_iommu_call *fake_iommu_log(struct kunit *test,
					     unsigned int *len);
unsigned int fake_iommu_log_count(struct kunit *test, enum fake_iommu_op op,
				  const struct device *dev);
unsigned int fake_iommu_call_total(struct kunit *test, enum fake_iommu_op op,
				   bool failed);
unsigned int fake_iommu_domain_id(const struct iommu_domain *domain);
unsigned int fake_iommu_invalidations(const struct iommu_domain *domain,
				      unsigned long start, unsigned long end);
int fake_iommu_log_find(struct kunit *test, enum fake_iommu_op op,
			const struct device *dev, unsigned int from);
unsigned int fake_iommu_violations(struct kunit *test);
int fake_iommu_wait_call(struct kunit *test, enum fake_iommu_op op,
			 const struct device *dev, unsigned int from,
			 unsigned long timeout);

int fake_iommu_report_page_req(struct device *dev,
			       const struct fake_iommu_page_req *req);
unsigned int fake_iommu_dev_iopf_users(struct device *dev);
int fake_iommu_drop_lazy_mms(void);
unsigned long fake_iommu_mmap(struct mm_struct *mm, size_t len,
			      unsigned long prot);
bool fake_iommu_page_present(struct mm_struct *mm, unsigned long addr,
			     bool write);
void fake_iommu_log_dump(struct kunit *test);

#endif /* __FAKE_IOMMU_H */
