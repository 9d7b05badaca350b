"""The kernel tree: fetching Debian's sources into the cache, the host
packages they need, and installing the suite's files and hook lines into
a tree (journalled, with a manifest) so that uninstall restores it byte
for byte."""
