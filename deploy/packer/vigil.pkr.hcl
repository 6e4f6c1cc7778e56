# Golden image with the Vigil agent installed and enabled but not enrolled.
# Each instance enrolls on first boot from its user-data (see
# deploy/cloud-init/user-data.yaml). The same provision.sh is what
# `make test-packages` bakes and then boots as two clones.
#
#   packer init . && packer build -var region=eu-west-1 -var vigil_version=0.1.40 .
packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0"
    }
  }
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "vigil_version" {
  type        = string
  description = "Vigil package version to pin (empty: the repository's newest)"
  default     = ""
}

variable "vigil_repo_line" {
  type        = string
  description = "APT source line of your Vigil repository"
  default     = "deb [signed-by=/usr/share/keyrings/vigil.gpg] https://packages.example.internal/vigil stable main"
}

# Optional: bake the environment's deployment token (vigil backend token
# create --kind enroll --env prod) so every instance enrolls itself on first
# boot without user-data; each still generates its own key. Empty: the
# instances' user-data carries it (deploy/cloud-init/user-data-image.yaml).
variable "vigil_enroll_token" {
  type      = string
  default   = ""
  sensitive = true
}

variable "vigil_nats_url" {
  type    = string
  default = ""
}

variable "vigil_env" {
  type    = string
  default = "prod"
}

source "amazon-ebs" "debian12" {
  region        = var.region
  instance_type = "t3.small"
  ssh_username  = "admin"
  ami_name      = "debian-12-vigil-{{timestamp}}"
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["136693071363"] # Debian
    most_recent = true
  }
  metadata_options {
    http_tokens = "required" # IMDSv2, which the agent uses
  }
  tags = {
    vigil = "baked-not-enrolled"
  }
}

build {
  sources = ["source.amazon-ebs.debian12"]

  provisioner "file" {
    source      = "vigil.gpg"
    destination = "/tmp/vigil.gpg"
  }

  provisioner "shell" {
    inline = [
      "sudo install -m 0644 /tmp/vigil.gpg /usr/share/keyrings/vigil.gpg",
      "echo '${var.vigil_repo_line}' | sudo tee /etc/apt/sources.list.d/vigil.list",
      "sudo apt-get update -q",
    ]
  }

  provisioner "shell" {
    script          = "provision.sh"
    environment_vars = ["VIGIL_VERSION=${var.vigil_version}", "VIGIL_ENROLL_TOKEN=${var.vigil_enroll_token}",
    "VIGIL_NATS_URL=${var.vigil_nats_url}", "VIGIL_ENV=${var.vigil_env}"]
    execute_command = "sudo env {{ .Vars }} sh '{{ .Path }}'"
  }

  # cloud-init must run again on every instance made from the image.
  provisioner "shell" {
    inline = ["sudo cloud-init clean --logs --seed"]
  }
}
