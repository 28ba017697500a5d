"""Google Cloud."""

from __future__ import annotations

from typing import Literal

from ccds_cli.clouds import _tags
from ccds_cli.clouds._lazy import require
from ccds_cli.clouds.base import CheckResult, Cloud, InstanceInfo, ProviderConfig

_SCOPES = ["https://www.googleapis.com/auth/compute.readonly"]
_FIX_ADC = ("run `gcloud auth application-default login`, or export GOOGLE_APPLICATION_CREDENTIALS "
            "with a service account key file")


class GcpProvider(ProviderConfig):
    cloud: Literal["gcp"]
    project: str
    zone: str | None = None  # zone letter suffix or full zone; default "<region>-a"


class Gcp(Cloud):
    name = "gcp"
    display = "Google Cloud"
    provider_model = GcpProvider
    tf_provider = ("google", "hashicorp/google", "~> 7.0")
    extra = "gcp"
    credential_env = ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS")
    default_instance_type = "e2-highcpu-4"
    default_region = "us-east4"
    node_resource = "google_compute_instance"  # the module resource that is one node (what `ccds operate` replaces)
    init_fields = ", project: my-project"
    # `<series>-<kind>-<vcpus>` (e2-highcpu-4, n2-custom-4-8192); `db-*` names are Cloud SQL tiers.
    instance_type_pattern = r"(?!db-)[a-z][a-z0-9]*(-[a-z0-9]+)+"
    database_class_pattern = r"db-[a-z0-9-]+"
    default_database_class = "db-custom-1-3840"
    max_database_replicas = 1  # Cloud SQL availability_type REGIONAL: one standby
    # GCP's TERMINATED means "stopped" (the disk and instance remain); deleted instances vanish.
    transient_errors = {
        "throttling": r"rateLimitExceeded|quota exceeded for quota metric",
        "server error": r"backendError",
        "eventual consistency": r"resourceNotReady",
    }
    state_map = {"provisioning": "pending", "staging": "pending", "repairing": "pending",
                 "running": "running", "stopping": "stopped", "stopped": "stopped", "suspending": "stopped",
                 "suspended": "stopped", "terminated": "stopped", "deprovisioning": "terminated"}

    def provider_block(self, cfg, region, tags):
        return {"project": cfg.project, "region": region}

    def module_settings(self, cfg, region):
        zone = cfg.zone or "a"
        return {"zone": zone if zone.startswith(region) else f"{region}-{zone}"}

    # -- SDK ---------------------------------------------------------------------------------
    def _client(self):
        compute = require("google.cloud.compute_v1", "gcp")
        credentials = self.credential
        if credentials is None:
            import google.auth

            credentials, _ = google.auth.default(scopes=_SCOPES)
        options = {"api_endpoint": self.endpoint} if self.endpoint else None
        return compute.InstancesClient(credentials=credentials, transport="rest", client_options=options)

    def _check(self, cfg):
        require("google.cloud.compute_v1", "gcp")
        from google.api_core import exceptions as gexc
        from google.auth.exceptions import DefaultCredentialsError, RefreshError

        try:
            client = self._client()
            pager = client.aggregated_list(request={"project": cfg.project, "max_results": 1})
            next(iter(pager.pages), None)
        except DefaultCredentialsError as exc:
            return CheckResult(False, f"no Google credentials: {str(exc).splitlines()[0]}", _FIX_ADC)
        except RefreshError as exc:
            return CheckResult(False, f"credentials could not be refreshed: {exc}", _FIX_ADC)
        except gexc.Unauthorized as exc:
            return CheckResult(False, f"credentials rejected: {exc.message}", _FIX_ADC)
        except gexc.Forbidden as exc:
            return CheckResult(False, f"not allowed in project {cfg.project}: {exc.message}",
                               "grant roles/compute.viewer (roles/compute.admin to deploy) and enable "
                               "the Compute Engine API")
        except gexc.NotFound as exc:
            return CheckResult(False, f"project {cfg.project} not found: {exc.message}",
                               "fix `project` in the spec (the project id, not its name)")
        return CheckResult(True, f"project {cfg.project}: instances can be listed")

    def _inventory(self, cfg, deployment, regions):
        wanted = set(regions)
        request = {"project": cfg.project, "max_results": self.page_size,
                   "filter": f'labels.{_tags.DEPLOYMENT} = "{_tags.label_value(deployment)}"'}
        found: list[InstanceInfo] = []
        # The pager follows nextPageToken itself; scopes are "zones/<zone>".
        for scope, scoped in self._client().aggregated_list(request=request):
            zone = scope.rsplit("/", 1)[-1]
            region = zone.rsplit("-", 1)[0]
            if wanted and region not in wanted:
                continue
            for inst in scoped.instances:
                found.append(self._info(inst, region))
        return found

    def _info(self, inst, region: str) -> InstanceInfo:
        labels = dict(inst.labels)
        nics = list(inst.network_interfaces)
        private = nics[0].network_i_p if nics else ""
        public = ""
        for nic in nics:
            for access in nic.access_configs:
                public = public or access.nat_i_p
        return InstanceInfo(
            id=str(inst.id), name=inst.name, region=region, role=labels.get(_tags.ROLE, ""),
            state=self.ccds_state(inst.status), public_ip=public, private_ip=private,
            launched_at=inst.creation_timestamp, workspace=labels.get(_tags.WORKSPACE, ""),
            cloud_state=inst.status)


CLOUD = Gcp()
