"""Environment management: provisioning, settings, lifecycle. Validates every
request before the registry sees it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from stowage.v1 import common_pb2
from stowage.v1 import environments_pb2 as env_pb

from . import names
from . import settings as settings_mod
from .checklist import Checklists
from .errors import Collected, FailedPrecondition, InvalidArgument, Violation, object_not_found
from .registry import ACTIVE, SUSPENDED, EnvRecord, Registry

T = TypeVar("T")
_REGION = re.compile(r"^[A-Za-z0-9-]{0,64}\Z")
_UPDATABLE = {"edition", "region", "settings"} | {f"settings.{f}" for f in settings_mod.ALL_FIELDS}


class EnvironmentEngine:
    def __init__(
        self,
        registry: Registry,
        executor: Executor | None,
        release_period: float,
        checklists: Checklists | None = None,
    ) -> None:
        self.registry = registry
        self._executor = executor
        self.release_period = release_period
        self.checklists = checklists

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def provision(self, req: env_pb.ProvisionEnvironmentRequest) -> EnvRecord:
        env_id = names.check_not_reserved(names.check_environment_id(req.environment_id))
        names.check_request_id(req.request_id)
        errors = Collected()
        e = req.environment
        if e.edition == common_pb2.EDITION_UNSPECIFIED:
            errors.add("environment.edition", "required")
        elif e.edition not in common_pb2.Edition.values():
            errors.add("environment.edition", "unknown edition")
        _check_region(e.region, "environment.region", errors)
        settings_mod.validate(e.settings, "environment.settings", errors)
        errors.raise_if_any()
        plain = env_pb.EnvironmentSettings()
        plain.CopyFrom(e.settings)
        return await self.run(
            lambda: self.registry.provision(
                env_id,
                e.edition,
                e.region,
                plain,
                req.request_id,
                self.release_period,
                req.validate_only,
            )
        )

    async def get(self, name: str, field: str = "name") -> EnvRecord:
        env_id = names.parse_environment(name, field)
        return await self.run(lambda: self.registry.get(env_id))

    async def list(self, after: str, limit: int) -> list[EnvRecord]:
        return await self.run(lambda: self.registry.list(after, limit))

    async def update(self, req: env_pb.UpdateEnvironmentRequest) -> EnvRecord:
        env_id = names.parse_environment(req.environment.name, "environment.name")
        paths = set(req.update_mask.paths)
        if not paths:
            raise InvalidArgument("update_mask", "name at least one field to change")
        unknown = sorted(paths - _UPDATABLE)
        if unknown:
            raise InvalidArgument("update_mask", f"cannot update {', '.join(unknown)}")
        errors = Collected()
        e = req.environment
        edition = region = None
        if "edition" in paths:
            if (
                e.edition not in common_pb2.Edition.values()
                or e.edition == common_pb2.EDITION_UNSPECIFIED
            ):
                errors.add("environment.edition", "a known edition is required")
            edition = e.edition
        if "region" in paths:
            _check_region(e.region, "environment.region", errors)
            region = e.region
        settings_mod.validate(e.settings, "environment.settings", errors)
        if ("settings" in paths or "settings.scale_units" in paths) and e.settings.scale_units == 0:
            errors.add("environment.settings.scale_units", "must be 1 to 64")
        errors.raise_if_any()
        fields = (
            set(settings_mod.ALL_FIELDS)
            if "settings" in paths
            else {p.split(".", 1)[1] for p in paths if p.startswith("settings.")}
        )
        new = env_pb.EnvironmentSettings()
        new.CopyFrom(e.settings)
        return await self.run(lambda: self.registry.update(env_id, edition, region, new, fields))

    async def delete(self, name: str) -> EnvRecord:
        env_id = names.parse_environment(name)
        return await self.run(lambda: self.registry.delete(env_id))

    async def suspend(self, name: str) -> EnvRecord:
        env_id = names.parse_environment(name)
        return await self.run(lambda: self.registry.set_state(env_id, (ACTIVE,), SUSPENDED))

    async def resume(self, name: str, force: bool) -> EnvRecord:
        """R7 and R9: an environment may not start while a blocking item of its
        checklist is open, nor pull a source FTP folder that an active
        environment already pulls, unless forced."""
        env_id = names.parse_environment(name)
        if not force:
            open_items = (
                await self.checklists.open_blocking(env_id) if self.checklists is not None else []
            )
            conflicts = [
                Violation(
                    item.subject,
                    f"checklist item {item.id} is open: {item.description}",
                    "CHECKLIST_ITEM",
                )
                for item in open_items
            ]
            listed = {v.subject for v in conflicts}
            conflicts += [
                v
                for v in await self.run(lambda: self._folder_conflicts(env_id))
                if v.subject not in listed
            ]
            if conflicts:
                items = [item.id for item in open_items]
                raise FailedPrecondition(
                    "RESUME_BLOCKED",
                    f"{env_id} cannot resume yet: "
                    + "; ".join(v.description for v in conflicts)
                    + "; fix them, acknowledge the checklist items, or resume with force",
                    metadata={
                        "conflicts": str(len(conflicts)),
                        "environment": names.environment_name(env_id),
                        **({"checklist_items": ",".join(items)} if items else {}),
                    },
                    violations=conflicts,
                )
        return await self.run(lambda: self.registry.set_state(env_id, (SUSPENDED,), ACTIVE))

    async def checklist(self, env_id: str) -> list[env_pb.ChecklistItem]:
        """The environment's checklist, with what is fixed closed."""
        if self.checklists is None:
            return []
        return await self.checklists.items(env_id)

    async def acknowledge(self, name: str, note: str) -> env_pb.ChecklistItem:
        if self.checklists is None:
            raise object_not_found(name)
        return await self.checklists.acknowledge(name, note)

    def _folder_conflicts(self, env_id: str) -> list[Violation]:
        users = self.registry.ftp_folder_users(exclude_env=env_id, active_only=True)
        out = []
        for agreement, folder in self.registry.agreement_folders(env_id):
            for other_env, other_agreement in users.get(folder, []):
                out.append(
                    Violation(
                        f"environments/{env_id}/agreements/{agreement}",
                        f"agreement {agreement} pulls {folder}, as does {other_agreement} of {other_env}",
                        "FTP_FOLDER_CONFLICT",
                    )
                )
        return out

    def settings_view(self, env: EnvRecord, reveal: bool) -> env_pb.EnvironmentSettings:
        return settings_mod.open_all(self.registry.box, env.uid, env.settings, reveal)


def _check_region(region: str, field: str, errors: Collected) -> None:
    if not _REGION.match(region):
        errors.add(field, "at most 64 letters, digits and hyphens")
