// SPDX-License-Identifier: GPL-2.0
/*
 * A kmemleak scan after the KUnit tests of the IOMMU SVA lifecycle
 * (iommu-sva-test.c, iommu-sva-model-test.c): what they leak that only
 * kmemleak sees, such as a handle the core forgot to free. It drives
 * kmemleak through its debugfs file, which is why it is built in only and
 * a Kconfig symbol of its own.
 *
 * Link order is suite order: this file comes after the other suites'
 * files in the Makefile, so that it runs last, and after the model's
 * slow cases, during which what the earlier suites allocated grows older
 * than kmemleak's minimum age.
 */
#include <kunit/test.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/mman.h>
#include <linux/mount.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "fake-iommu/fake-iommu.h"

/* kmemleak does not report objects younger than this (MSECS_MIN_AGE). */
#define SVA_KMEMLEAK_MIN_AGE_MS	5000
#define SVA_KMEMLEAK_BUF	SZ_256K

/*
 * A leak is in scope when the IOMMU core, its SVA code or the fake driver
 * allocated it: its allocation backtrace names one of their functions.
 * Where kmemleak records no backtrace (UML), the allocating task stands
 * in: KUnit runs each case of these suites in a "kunit_try_catch" kthread,
 * and nothing else runs there. Leaks of other subsystems (the kernel's own
 * boot-time ones, say) are not this suite's to report.
 */
static bool sva_leak_is_ours(const char *report)
{
	const char *trace = strstr(report, "backtrace");

	if (!trace)
		return false;
	if (!strstr(trace, "+0x"))
		return strstr(report, "comm \"kunit_try_catch\"");
	return strstr(trace, "iommu_") || strstr(trace, "fake_iommu") ||
	       strstr(trace, "fake_domain");
}

/*
 * Print and count the leak reports that are ours (above); the kernel's own
 * boot-time leaks are not.
 */
static unsigned int sva_report_leaks(struct kunit *test, char *reports)
{
	static const char marker[] = "unreferenced object";
	unsigned int leaks = 0;
	char *cur = strstr(reports, marker);

	while (cur) {
		char *next = strstr(cur + 1, marker);

		if (next)
			next[-1] = '\0';
		if (sva_leak_is_ours(cur)) {
			kunit_err(test, "kmemleak: %s\n", cur);
			leaks++;
		}
		cur = next;
	}
	return leaks;
}

/* Write one command to kmemleak's control file, as "echo cmd >" would. */
static ssize_t sva_kmemleak_command(struct file *file, unsigned long ubuf,
				    const char *cmd)
{
	size_t n = strlen(cmd);
	loff_t pos = 0;

	if (copy_to_user((char __user *)ubuf, cmd, n))
		return -EFAULT;
	return vfs_write(file, (const char __user *)ubuf, n, &pos);
}

/*
 * Runs after every other suite of the IOMMU SVA tests: asks kmemleak for a scan (as writing "scan"
 * to its debugfs file does) once the objects the tests allocated are old
 * enough to be reported, and fails on a leak from the IOMMU code, such as
 * the handle leaked on a failed domain allocation (9991a82a3817).
 */
static void sva_test_leak_kmemleak_scan(struct kunit *test)
{
	struct file_system_type *debugfs;
	struct vfsmount *mnt;
	struct file *file;
	loff_t pos = 0;
	unsigned long ubuf;
	ssize_t len;
	unsigned long newest = fake_iommu_newest_instance();
	unsigned int age_ms;
	char *buf;

	/*
	 * kmemleak reports no object younger than its minimum age. Rather
	 * than wait, this case runs after the model's exhaustive case, which
	 * registers its world's fake IOMMU, the newest, and then runs
	 * sequences for longer than that: everything the suites before it
	 * allocated is old enough by now, and the model accounts for what
	 * its own world allocated.
	 */
	if (!newest)
		kunit_skip(test, "no fake IOMMU was registered: no test ran before");
	age_ms = jiffies_to_msecs(jiffies - newest);
	if (age_ms < SVA_KMEMLEAK_MIN_AGE_MS)
		kunit_skip(test,
			   "the newest fake IOMMU is %u ms old, kmemleak reports nothing under %u ms: run the model's exhaustive case before this one, for longer (iommu_sva_model_test.budget_ms=)",
			   age_ms, SVA_KMEMLEAK_MIN_AGE_MS);
	debugfs = get_fs_type("debugfs");
	if (!debugfs)
		kunit_skip(test, "needs debugfs for kmemleak's control file");
	mnt = kern_mount(debugfs);
	put_filesystem(debugfs);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, mnt);

	file = file_open_root_mnt(mnt, "kmemleak", O_RDWR, 0);
	if (IS_ERR(file)) {
		kern_unmount(mnt);
		kunit_skip(test, "kmemleak is off (kmemleak=off or it failed at boot)");
	}

	/* kmemleak's file has only user-pointer read and write methods. */
	ubuf = kunit_vm_mmap(test, NULL, 0, SVA_KMEMLEAK_BUF, PROT_READ | PROT_WRITE,
			     MAP_ANONYMOUS | MAP_PRIVATE, 0);
	buf = kunit_kzalloc(test, SVA_KMEMLEAK_BUF, GFP_KERNEL);
	if (IS_ERR_VALUE(ubuf) || !ubuf || !buf) {
		fput(file);
		kern_unmount(mnt);
		KUNIT_FAIL(test, "no memory for kmemleak's report");
		return;
	}

	/*
	 * Every test ran in a kthread whose stack pages get reused: a stale
	 * copy of a leaked pointer there would hide the leak. Stack scanning
	 * is on unless someone wrote "stack=off", which only this case does
	 * in a KUnit kernel, so it is switched back on below.
	 */
	len = sva_kmemleak_command(file, ubuf, "stack=off");
	if (len == -EPERM) {
		fput(file);
		kern_unmount(mnt);
		kunit_skip(test, "kmemleak was disabled at run time");
	}
	KUNIT_EXPECT_EQ_MSG(test, len, 9, "writing \"stack=off\" to kmemleak");
	/* The first scan records checksums; the second reports. */
	KUNIT_EXPECT_EQ(test, sva_kmemleak_command(file, ubuf, "scan"), 4);
	KUNIT_EXPECT_EQ(test, sva_kmemleak_command(file, ubuf, "scan"), 4);
	KUNIT_EXPECT_EQ_MSG(test, sva_kmemleak_command(file, ubuf, "stack=on"), 8,
			    "stack scanning left off: kmemleak's setting is not as it was");
	pos = 0;
	len = vfs_read(file, (char __user *)ubuf, SVA_KMEMLEAK_BUF - 1, &pos);
	if (len > 0 && copy_from_user(buf, (const char __user *)ubuf, len))
		len = -EFAULT;
	fput(file);
	kern_unmount(mnt);

	KUNIT_ASSERT_GE(test, len, 0);
	KUNIT_EXPECT_EQ_MSG(test, sva_report_leaks(test, buf), 0,
			    "objects leaked by the IOMMU core or the fake driver");
}

static struct kunit_case sva_leak_cases[] = {
	KUNIT_CASE_SLOW(sva_test_leak_kmemleak_scan),
	{}
};

static struct kunit_suite sva_leak_suite = {
	.name = "iommu_sva_leak",
	.test_cases = sva_leak_cases,
};

kunit_test_suite(sva_leak_suite);
