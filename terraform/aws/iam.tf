# The clients' instance role: the blob store's bucket (under its prefix) only; completing the drain
# lifecycle hook of their own group; and, for the aws VM provider, launching instances only tagged
# ManagedBy=deckhand in the VM subnets and security group, and re-tagging and terminating only such
# instances (the policy of docs/machine.md).

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "client" {
  name_prefix        = "${var.name}-client-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = local.tags
}

resource "aws_iam_instance_profile" "client" {
  name_prefix = "${var.name}-client-"
  role        = aws_iam_role.client.name
  tags        = local.tags
}

locals {
  vm_subnet_ids = length(var.vm_subnet_ids) > 0 ? var.vm_subnet_ids : var.subnet_ids
  tagged        = ["arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:volume/*"]
}

# the blob store under its prefix, when there is one
data "aws_iam_policy_document" "store" {
  count = var.blob_store_bucket == "" ? 0 : 1

  statement {
    sid       = "ListStorePrefix"
    actions   = ["s3:ListBucket"]
    resources = ["arn:aws:s3:::${var.blob_store_bucket}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.blob_store_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadWriteStore"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["arn:aws:s3:::${var.blob_store_bucket}/${var.blob_store_prefix}/*"]
  }
}

# the aws VM provider's launching, tagging and terminating, when it is the one used
data "aws_iam_policy_document" "vm_provider" {
  count = var.vm_provider == "aws" ? 1 : 0

  statement {
    sid     = "LaunchFromTheseResources"
    actions = ["ec2:RunInstances"]
    resources = concat(
      ["arn:aws:ec2:*::image/ami-*", "arn:aws:ec2:*:*:network-interface/*", aws_security_group.vm[0].arn],
      [for s in local.vm_subnet_ids : "arn:aws:ec2:*:*:subnet/${s}"],
    )
  }

  statement {
    sid       = "LaunchOnlyTagged"
    actions   = ["ec2:RunInstances"]
    resources = local.tagged
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/ManagedBy"
      values   = ["deckhand"]
    }
  }

  statement {
    sid       = "TagWhileLaunching"
    actions   = ["ec2:CreateTags"]
    resources = local.tagged
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["RunInstances"]
    }
  }

  statement {
    sid       = "RetagDeckhandInstances"
    actions   = ["ec2:CreateTags"]
    resources = ["arn:aws:ec2:*:*:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/ManagedBy"
      values   = ["deckhand"]
    }
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["deckhand:*", "Name"]
    }
  }

  statement {
    sid       = "ListInstances"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"]
  }

  statement {
    sid       = "TerminateOnlyDeckhandInstances"
    actions   = ["ec2:TerminateInstances"]
    resources = ["arn:aws:ec2:*:*:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/ManagedBy"
      values   = ["deckhand"]
    }
  }
}

data "aws_iam_policy_document" "client" {
  source_policy_documents = concat(data.aws_iam_policy_document.store[*].json, data.aws_iam_policy_document.vm_provider[*].json)

  statement {
    sid       = "CompleteOwnDrainHook"
    actions   = ["autoscaling:CompleteLifecycleAction"]
    resources = [aws_autoscaling_group.clients.arn]
  }
}

resource "aws_iam_role_policy" "client" {
  name   = "deckhand-client"
  role   = aws_iam_role.client.id
  policy = data.aws_iam_policy_document.client.json
}
