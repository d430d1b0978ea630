# The CSI controller plugin "rexray": the rexray-c engine as the central
# libStorage server, serving the CSI Controller service on the socket Nomad
# gives it (mount_dir /csi). The node plugins (node.nomad) are its agents.
# docs/csi.md says what the Nomad clients need (host volumes, Docker).
job "rexray-controller" {
  datacenters = ["dc1"]
  type        = "service"

  group "controller" {
    # one server owns the volumes' state
    count = 1

    network {
      # the agents find it through the Nomad service below
      port "libstorage" {
        static = 7979
      }
    }

    service {
      name     = "rexray-controller"
      provider = "nomad"
      port     = "libstorage"
    }

    # the server's state (SQLite); only the client that defines this host
    # volume can run the group, which pins the server to one machine
    volume "state" {
      type   = "host"
      source = "rexray-controller-state"
    }

    # the images: a directory every client sees at the same path
    volume "shared" {
      type   = "host"
      source = "rexray-shared"
    }

    task "rexray" {
      driver = "docker"

      config {
        image = "rexray-c:0.1.0"
        args  = ["service", "start", "-f"]
        ports = ["libstorage"]
        # it mounts nothing (the nodes do): no privileges
        privileged = false
      }

      csi_plugin {
        id        = "rexray"
        type      = "controller"
        mount_dir = "/csi"
      }

      env {
        # Nomad's socket for this plugin: mount_dir + /csi.sock; the same
        # address as the csi module's host in config.yml below
        CSI_ENDPOINT = "unix:///csi/csi.sock"
        # config.yml is rendered into the task's local/ directory
        REXRAY_HOME_ETC = "/local"
        REXRAY_HOME_LIB = "/var/lib/rexray-controller"
      }

      volume_mount {
        volume      = "state"
        destination = "/var/lib/rexray-controller"
      }

      volume_mount {
        volume           = "shared"
        destination      = "/shared/rexray"
        propagation_mode = "host-to-task"
      }

      # Secrets come from the Nomad variable nomad/jobs/rexray-controller
      # (docs/csi.md); they are written to the task's secrets/ directory,
      # never into this file.
      template {
        destination = "secrets/tls.crt"
        perms       = "0400"
        data        = "{{ with nomadVar \"nomad/jobs/rexray-controller\" }}{{ .tls_crt }}{{ end }}"
      }

      template {
        destination = "secrets/tls.key"
        perms       = "0400"
        data        = "{{ with nomadVar \"nomad/jobs/rexray-controller\" }}{{ .tls_key }}{{ end }}"
      }

      template {
        destination = "secrets/jwt.key"
        perms       = "0400"
        data        = "{{ with nomadVar \"nomad/jobs/rexray-controller\" }}{{ .jwt_key }}{{ end }}"
      }

      template {
        destination = "local/config.yml"
        data        = <<EOT
libstorage:
  service: loop
  server:
    services:
      loop:
        driver: loop
    endpoints:
      cluster:
        address: tcp://0.0.0.0:7979
    auth:
      key: /secrets/jwt.key
  tls:
    certFile: /secrets/tls.crt
    keyFile: /secrets/tls.key
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
        services: controller
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
