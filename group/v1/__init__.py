"""Greengrass V1: the group as V1 API objects (``desired``) and their deploy steps (``apply``)."""
from __future__ import annotations

from .apply import (DeployResult, PendingDeployment, bulk_deploy, deploy_for_run, deploy_group,
                    destroy_bulk_infra_if_unused, destroy_group, group_status, plan_group, poll_deployment)
from .desired import desired_objects, thing_policy_document

__all__ = ["DeployResult", "PendingDeployment", "bulk_deploy", "deploy_for_run", "deploy_group",
           "destroy_bulk_infra_if_unused", "destroy_group", "group_status", "plan_group", "poll_deployment",
           "desired_objects", "thing_policy_document"]
