variable "name" {
  description = "Prefix of every resource's name (the autoscaling group is NAME-clients)."
  type        = string
  default     = "deckhand"
}

variable "vpc_id" {
  description = "The VPC of the clients (and of the VMs of the aws VM provider)."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets the autoscaling group launches clients in."
  type        = list(string)
}

variable "client_image_id" {
  description = "AMI of the Nomad client image (packer/client, amazon-ebs source)."
  type        = string
}

variable "instance_type" {
  description = "Instance type of the clients. 2 CPUs and 4 GB of each are kept back from jobs."
  type        = string
  default     = "m5.2xlarge"
}

variable "root_volume_gb" {
  description = "Size of each client's root volume (images, caches and job workspaces live there)."
  type        = number
  default     = 100
}

variable "min_size" {
  description = "Fewest clients during working hours."
  type        = number
  default     = 1
}

variable "max_size" {
  description = "Most clients."
  type        = number
  default     = 10
}

variable "desired_capacity" {
  description = "Clients at creation and at the start of working hours; later changes by the schedule or an autoscaler are kept."
  type        = number
  default     = 1
}

variable "scale_schedule" {
  description = "Scale to off_hours_size outside working hours: cron recurrences (in time_zone) for the start and end of working hours, or null for no schedule."
  type = object({
    working_hours_start = string
    working_hours_end   = string
    time_zone           = string
    off_hours_size      = number
  })
  default = {
    working_hours_start = "0 7 * * MON-FRI"
    working_hours_end   = "0 20 * * MON-FRI"
    time_zone           = "Etc/UTC"
    off_hours_size      = 0
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
  description = "PEM texts of the CA, the client certificate and its key for Nomad's mutual TLS; null: no TLS. They travel in the user data."
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
  description = "The clients' Nomad node class (deckhand nomad job constrains jobs to it)."
  type        = string
  default     = "deckhand"
}

variable "drain_deadline_minutes" {
  description = "How long a client going away lets running jobs finish (the lifecycle hook waits 5 minutes longer)."
  type        = number
  default     = 60
}

variable "output_processor" {
  description = "HOST:PORT of the output processor every job streams to; empty: none."
  type        = string
  default     = ""
}

variable "output_processor_secret" {
  description = "The output processor's secret (its DATA/secret), from which clients mint job tokens; written to /etc/deckhand/processor-secret. It travels in the user data."
  type        = string
  default     = ""
  sensitive   = true
}

variable "output_processor_security_group_id" {
  description = "The output processor's security group: given, it lets the clients in on 8585."
  type        = string
  default     = ""
}

variable "blob_store_bucket" {
  description = "S3 bucket for caches, workspaces and artifacts; the clients' role may use only it (under blob_store_prefix). Empty: none."
  type        = string
  default     = ""
}

variable "blob_store_prefix" {
  description = "Key prefix in blob_store_bucket."
  type        = string
  default     = "deckhand"
}

variable "vm_provider" {
  description = "Where machine jobs and remote Docker run: docker (containers on the client) or aws (EC2 instances: a security group for them and the right to launch and terminate tagged instances)."
  type        = string
  default     = "docker"
  validation {
    condition     = contains(["docker", "aws"], var.vm_provider)
    error_message = "vm_provider must be docker or aws."
  }
}

variable "vm_subnet_ids" {
  description = "aws VM provider: subnets the VMs are launched in (default: subnet_ids)."
  type        = list(string)
  default     = []
}

variable "wait_for_capacity_timeout" {
  description = "How long terraform apply waits for the group's instances to be in service (0: not at all)."
  type        = string
  default     = "10m"
}

variable "tags" {
  description = "Tags of every resource (and of the clients' instances and volumes)."
  type        = map(string)
  default     = {}
}
