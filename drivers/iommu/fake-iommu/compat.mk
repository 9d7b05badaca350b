# SPDX-License-Identifier: GPL-2.0
#
# The IOMMU core API that the fake driver implements, and that the tests
# call, changed between the kernels the suite is built for (v6.12 to
# v7.3). Each change is decided here, from what this tree's iommu.h
# declares (iommu.c for the last one), so that a backport counts as much
# as a release; the C code tests only the FAKE_IOMMU_* macros. Included
# by fake-iommu/Makefile for the driver and by drivers/iommu/Makefile for
# the tests, which add $(fake_iommu_compat_flags) to their own flags.
fake_iommu_h := $(srctree)/include/linux/iommu.h
fake_iommu_h_has = $(shell tr '\n\t' '  ' < $(fake_iommu_h) | grep -q -e '$(1)' && echo y)

fake_iommu_compat_flags :=

# v6.14, 647b7aad1949 ("iommu: Remove the remove_dev_pasid op"): the core
# detaches a PASID by setting the driver's blocked domain on it with
# set_dev_pasid(), and refuses PASID attaches to a driver without one.
ifeq ($(call fake_iommu_h_has,remove_dev_pasid),y)
fake_iommu_compat_flags += -DFAKE_IOMMU_HAS_REMOVE_DEV_PASID
endif

# v6.16, 7c8896dd4a2a ("iommu: Remove IOMMU_DEV_FEAT_SVA") and f984fb09e60e
# ("iommu: Remove iommu_dev_enable/disable_feature()"): an IOMMU driver
# sets up what SVA needs by itself; before, the device's driver enabled
# IOMMU_DEV_FEAT_SVA first.
ifeq ($(call fake_iommu_h_has,IOMMU_DEV_FEAT_SVA),y)
fake_iommu_compat_flags += -DFAKE_IOMMU_HAS_DEV_FEAT_SVA
endif

# v6.16, the same series: a device's driver no longer enables IO page
# faults through the core (IOMMU_DEV_FEAT_IOPF); an IOMMU driver enables
# them itself for each fault-capable domain it sets on a PASID.
ifeq ($(call fake_iommu_h_has,IOMMU_DEV_FEAT_IOPF),y)
fake_iommu_compat_flags += -DFAKE_IOMMU_HAS_DEV_FEAT_IOPF
endif

# v6.19, fd714986e4e4 ("iommu: Pass in old domain to attach_dev callback
# functions"): attach_dev() is told which domain it replaces.
ifeq ($(call fake_iommu_h_has,attach_dev.(struct iommu_domain \*domain. struct device \*dev. *struct iommu_domain \*old)),y)
fake_iommu_compat_flags += -DFAKE_IOMMU_ATTACH_DEV_HAS_OLD
endif

# v6.19, e37d5a2d60a3 ("iommu/sva: invalidate stale IOTLB entries for
# kernel address space"): the core keeps every mm that has an SVA domain
# on a global list, and iommu_sva_invalidate_kva_range() calls the
# arch_invalidate_secondary_tlbs() notifiers of each.
ifeq ($(call fake_iommu_h_has,iommu_sva_invalidate_kva_range),y)
fake_iommu_compat_flags += -DFAKE_IOMMU_HAS_SVA_MM_LIST
endif

# iommu_replace_device_pasid() (IOMMUFD_INTERNAL, after v6.12): iommufd
# replaces the domain on a PASID in one step, without a detach between.
ifneq ($(shell grep -s -q 'iommu_replace_device_pasid' $(srctree)/drivers/iommu/iommu-priv.h && echo y),)
fake_iommu_compat_flags += -DFAKE_IOMMU_HAS_REPLACE_DEVICE_PASID
endif

# The core builds iommu_device_register_bus(), iommu_device_unregister_bus()
# and iommu_mock_device_add() for CONFIG_FAKE_IOMMU too, not only for
# CONFIG_IOMMUFD_TEST: then the fake driver puts its client devices on a
# bus of its own, as iommufd's selftest does, instead of the platform bus.
fake_iommu_c := $(srctree)/drivers/iommu/iommu.c
ifeq ($(shell grep -q -F 'IS_ENABLED(CONFIG_FAKE_IOMMU)' $(fake_iommu_c) && echo y),y)
fake_iommu_compat_flags += -DFAKE_IOMMU_HAS_MOCK_BUS
endif

# 72f98ef9a4be ("iommu: disable SVA when CONFIG_X86 is set"), a stable-only
# change (Debian's 6.12 carries it): every bind fails with -EOPNOTSUPP on
# x86, so the tests that need a bind skip there.
ifneq ($(shell grep -s -q 'IS_ENABLED(CONFIG_X86)' $(srctree)/drivers/iommu/iommu-sva.c && echo y),)
fake_iommu_compat_flags += -DFAKE_IOMMU_SVA_OFF_ON_X86
endif

# v6.13, cdd30ebb1b9f ("module: Convert symbol namespace to string
# literal"): a test module imports a namespace by its name as a string;
# before, as a bare identifier.
ifneq ($(shell grep -s -q 'MODULE_INFO(import_ns, __stringify(ns))' $(srctree)/include/linux/module.h && echo y),)
fake_iommu_compat_flags += -DFAKE_IOMMU_NS_UNQUOTED
endif
