# The CSI node plugin "rexray" on every client: the rexray-c engine as an
# agent of the controller (controller.nomad), serving the CSI Node service:
# it attaches loop devices, formats on first use and mounts for Nomad.
# docs/csi.md says what the Nomad clients need (host volumes, Docker).
job "rexray-node" {
  datacenters = ["dc1"]
  # one on every client
  type = "system"

  group "node" {
    # loop devices appear in the host's /dev, not in the container's copy
    volume "dev" {
      type   = "host"
      source = "rexray-dev"
    }

    # the agent's state (use counts, instance ID) outlives the task
    volume "state" {
      type   = "host"
      source = "rexray-state"
    }

    # the engine's socket and pid file, for `rexray` on the host
    volume "run" {
      type   = "host"
      source = "rexray-run"
    }

    volume "shared" {
      type   = "host"
      source = "rexray-shared"
    }

    task "rexray" {
      driver = "docker"

      config {
        image = "rexray-c:0.1.0"
        args  = ["service", "start", "-f"]
        # loop devices, mount(2), the filesystem shutdown ioctl (fencing);
        # the client's Docker plugin must have allow_privileged = true
        privileged = true
      }

      csi_plugin {
        id        = "rexray"
        type      = "node"
        mount_dir = "/csi"
      }

      env {
        CSI_ENDPOINT    = "unix:///csi/csi.sock"
        REXRAY_HOME_ETC = "/local"
        # the CSI node ID and the instance ID the controller attaches to
        LOOP_INSTANCEID = "${node.unique.name}"
      }

      volume_mount {
        volume      = "dev"
        destination = "/dev"
      }

      # the engine's own mounts of volumes must reach the host
      volume_mount {
        volume           = "state"
        destination      = "/var/lib/rexray"
        propagation_mode = "bidirectional"
      }

      volume_mount {
        volume      = "run"
        destination = "/var/run/rexray"
      }

      volume_mount {
        volume           = "shared"
        destination      = "/shared/rexray"
        propagation_mode = "host-to-task"
      }

      # Secrets from the Nomad variable nomad/jobs/rexray-node (docs/csi.md):
      # the CA and the agents' token only; the server's key stays with it
      template {
        destination = "secrets/ca.crt"
        perms       = "0400"
        data        = "{{ with nomadVar \"nomad/jobs/rexray-node\" }}{{ .ca_crt }}{{ end }}"
      }

      template {
        destination = "secrets/token"
        perms       = "0400"
        data        = "{{ with nomadVar \"nomad/jobs/rexray-node\" }}{{ .token }}{{ end }}"
      }

      # The server's address comes from Nomad's service catalogue; its
      # certificate must name rexray-controller (serverName), since the
      # address is an IP.
      template {
        destination = "local/config.yml"
        data        = <<EOT
libstorage:
  host: '{{ range nomadService "rexray-controller" }}tcp://{{ .Address }}:{{ .Port }}{{ end }}'
  service: loop
  client:
    tls:
      trustedCertsFile: /secrets/ca.crt
      serverName: rexray-controller
    auth:
      token: /secrets/token
loop:
  volumePath: /shared/rexray
rexray:
  logFile: ""
  modules:
    default-docker:
      disabled: true
    csi:
      type: csi
      host: unix:///csi/csi.sock
      csi:
        services: node
        driverName: csi.rexray.io
EOT
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
