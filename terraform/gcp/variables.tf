variable "name" {
  description = "Prefix of every resource's name, and the network tag of the clients (NAME-client)."
  type        = string
  default     = "deckhand"
}

variable "project" {
  description = "The GCP project."
  type        = string
}

variable "region" {
  description = "Region of the regional managed instance group."
  type        = string
}

variable "network" {
  description = "Self link or name of the VPC network the firewall rules apply to."
  type        = string
}

variable "subnetwork" {
  description = "Self link or name of the clients' subnetwork."
  type        = string
}

variable "client_image" {
  description = "The Nomad client image (packer/client, googlecompute source): a self link or projects/P/global/images/family/F."
  type        = string
}

variable "machine_type" {
  description = "Machine type of the clients. 2 CPUs and 4 GB of each are kept back from jobs."
  type        = string
  default     = "n2-standard-8"
}

variable "disk_size_gb" {
  description = "Size of each client's boot disk."
  type        = number
  default     = 100
}

variable "public_address" {
  description = "Give each client an external address (for SSH into builds from outside the VPC)."
  type        = bool
  default     = false
}

variable "min_size" {
  description = "Fewest clients outside working hours."
  type        = number
  default     = 0
}

variable "max_size" {
  description = "Most clients."
  type        = number
  default     = 10
}

variable "working_hours_size" {
  description = "Fewest clients during working hours (a scaling schedule of the autoscaler)."
  type        = number
  default     = 1
}

variable "scale_schedule" {
  description = "Working hours: a cron start (in time_zone) and a duration; null for no schedule (then min_size all day)."
  type = object({
    working_hours_start = string
    duration_hours      = number
    time_zone           = string
  })
  default = {
    working_hours_start = "0 7 * * MON-FRI"
    duration_hours      = 13
    time_zone           = "Etc/UTC"
  }
}

variable "nomad_servers" {
  description = "The Nomad servers the clients join, HOST[:PORT] (port 4647 when none is given)."
  type        = list(string)
}

variable "nomad_server_cidrs" {
  description = "Where the Nomad servers are: they reach the clients on 4647."
  type        = list(string)
}

variable "ssh_cidrs" {
  description = "Where engineers SSH into builds from: ports 64535-65535 of the clients. Empty: no such rule."
  type        = list(string)
  default     = []
}

variable "nomad_tls" {
  description = "PEM texts of the CA, the client certificate and its key for Nomad's mutual TLS; null: no TLS. They travel in the instance metadata."
  type = object({
    ca   = string
    cert = string
    key  = string
  })
  default   = null
  sensitive = true
}

variable "datacenter" {
  description = "The clients' Nomad datacenter."
  type        = string
  default     = "dc1"
}

variable "node_class" {
  description = "The clients' Nomad node class."
  type        = string
  default     = "deckhand"
}

variable "drain_deadline_minutes" {
  description = "How long a client being shut down lets running jobs finish (GCE itself may stop it sooner)."
  type        = number
  default     = 60
}

variable "output_processor" {
  description = "HOST:PORT of the output processor every job streams to; empty: none."
  type        = string
  default     = ""
}

variable "output_processor_secret" {
  description = "The output processor's secret, written to /etc/deckhand/processor-secret. It travels in the instance metadata."
  type        = string
  default     = ""
  sensitive   = true
}

variable "output_processor_tag" {
  description = "Network tag of the output processor's instances: given, the clients may reach them on 8585."
  type        = string
  default     = ""
}

variable "vm_tag" {
  description = "Network tag of VMs for machine jobs and remote Docker: given, the clients may reach them on 22 and 2376."
  type        = string
  default     = ""
}

variable "store" {
  description = "The clients' store (deckhand nomad client-config --store): a folder, or s3://bucket/prefix of an S3-compatible service. Empty: none."
  type        = string
  default     = ""
}

variable "labels" {
  description = "Labels of the clients and their disks."
  type        = map(string)
  default     = {}
}
