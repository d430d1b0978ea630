# A rexray-c volume for Nomad: nomad volume create deploy/nomad/volume.hcl
# Then a job claims it with a group `volume "data" { type = "csi"
# source = "db1" attachment_mode = "file-system"
# access_mode = "single-node-writer" }`.
id        = "db1"
name      = "db1"
type      = "csi"
# the csi_plugin id of controller.nomad and node.nomad
plugin_id = "rexray"

# CreateVolume's capacity_range; the engine sizes volumes in whole GiB
capacity_min = "1GiB"
capacity_max = "4GiB"

# one node writes at a time: the engine attaches a volume to one host
capability {
  access_mode     = "single-node-writer"
  attachment_mode = "file-system"
}

# made by NodeStageVolume on first use
mount_options {
  fs_type = "ext4"
}
