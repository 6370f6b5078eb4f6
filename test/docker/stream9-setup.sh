#!/bin/sh
# Makes a CentOS Stream 9 image into a lab node (the lab's own image already is one).
set -eu
if grep -q 'provision lab' /etc/redhat-release 2>/dev/null; then exit 0; fi
dnf install -y openssh-server sudo systemd iproute procps-ng bind-utils
dnf clean all
useradd -m -s /bin/bash admin
echo 'admin ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/admin
chmod 0440 /etc/sudoers.d/admin
mkdir -p /etc/ssh/sshd_config.d
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' > /etc/ssh/sshd_config.d/lab.conf
rm -f /etc/ssh/ssh_host_*
# Host keys come from the lab (lab-node-init copies them); CentOS's own keygen stays off.
systemctl mask sshd-keygen@ecdsa.service sshd-keygen@ed25519.service sshd-keygen@rsa.service
systemctl enable sshd
# The lab's yum repository (etcd, dnsmasq), mounted read-only at /srv/lab-repo.
cat > /etc/yum.repos.d/lab.repo <<'REPO'
[lab]
name=provision lab repository
baseurl=file:///srv/lab-repo
enabled=1
gpgcheck=0
priority=1
REPO
