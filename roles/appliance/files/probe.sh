#!/bin/sh
# What the appliance's preflight needs beyond Ansible's facts: the tools it uses, and the host's NVIDIA GPUs
# (nvidia-smi where the driver is installed; the PCI devices of vendor 0x10de under /sys/bus/pci/devices always).
# Output, one fact per line: `tool NAME PATH`, `nvidia-smi NAME, MEMORY_MIB` per GPU (or `nvidia-smi-failed`),
# `pci ADDRESS VENDOR DEVICE CLASS` per NVIDIA device. Changes nothing.
for tool in openssl start-stop-daemon systemctl nvidia-smi; do
  path=$(command -v "$tool" 2>/dev/null) && echo "tool $tool $path"
done
if command -v nvidia-smi >/dev/null 2>&1; then
  if out=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits 2>/dev/null); then
    printf '%s\n' "$out" | while IFS= read -r line; do
      [ -n "$line" ] && echo "nvidia-smi $line"
    done
  else
    echo "nvidia-smi-failed"
  fi
fi
for device in /sys/bus/pci/devices/*; do
  [ -r "$device/vendor" ] || continue
  vendor=$(cat "$device/vendor")
  [ "$vendor" = 0x10de ] || continue
  echo "pci ${device##*/} $vendor $(cat "$device/device") $(cat "$device/class")"
done
exit 0
