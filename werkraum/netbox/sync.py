"""`werkraum netbox sync`: make NetBox hold the rack that the inventory describes.

Creates or updates the site, rack, device roles, manufacturers and device types,
devices with their rack position, management interface, primary address and the
per-host facts NetBox keeps as custom fields (OSD disks, GPU substrate), the
custom fields themselves, the management prefix and the tenant prefix pool. Everything it creates carries the tag
``werkraum``. It updates only objects with that tag, reuses untagged shared
objects (a site or role made by hand) as they are, refuses to take over an
untagged device of the same name, and never deletes anything: owned devices
that left the inventory are reported for a person to remove.

A second run with nothing changed writes nothing and says so; ``dry_run``
computes the same changes and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pynetbox
from pynetbox.core.response import Record

from werkraum.errors import WerkraumError
from werkraum.netbox.client import TAG
from werkraum.netbox.rack import CUSTOM_FIELDS, ROLE_COLORS, Device, RackDescription, slugify

PLACEHOLDER = -1  # the id of an object a dry run would create


@dataclass
class SyncReport:
    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def lines(self) -> list[str]:
        verb = ("would create", "would update") if self.dry_run else ("created", "updated")
        out = [f"  + {verb[0]} {c}" for c in self.created] + [f"  ~ {verb[1]} {u}" for u in self.updated]
        return out + [f"  ! {n}" for n in self.notes]


def _value(v: Any) -> Any:
    """A field of a record as comparable data: nested objects by id, choices by value."""
    if isinstance(v, Record):
        return getattr(v, "id", None) if hasattr(v, "id") else getattr(v, "value", str(v))
    if isinstance(v, dict):
        return v.get("id", v.get("value"))
    if isinstance(v, list):
        return sorted(_value(x) for x in v)
    return v


def _change(key: str, current: Any, desired: Any) -> str:
    """One field's change as the report prints it (custom fields one by one)."""
    if key == "custom_fields":
        have = current if isinstance(current, dict) else {}
        return ", ".join(f"{n} {have.get(n)!r} -> {v!r}" for n, v in desired.items() if have.get(n) != v)
    return f"{key} {_value(current)!r} -> {desired!r}"


def _same(key: str, current: Any, desired: Any) -> bool:
    """Whether a field already holds what is wanted (custom fields: only the ones Werkraum sets)."""
    if key == "custom_fields":
        have = current if isinstance(current, dict) else {}
        return all(have.get(name) == value for name, value in desired.items())
    if key == "position" and current is not None and desired is not None:
        return float(current) == float(desired)  # NetBox answers rack units as decimals
    return bool(_value(current) == desired)


def _tagged(record: Record) -> bool:
    return any(getattr(t, "slug", None) == TAG for t in (getattr(record, "tags", None) or []))


class Syncer:
    def __init__(self, api: pynetbox.api, dry_run: bool) -> None:
        self.api = api
        self.report = SyncReport(dry_run)
        self.tag_id = PLACEHOLDER

    # --- one object -----------------------------------------------------------------

    def ensure(self, endpoint: Any, label: str, lookup: dict[str, Any], desired: dict[str, Any]) -> int:
        """Find the object by ``lookup`` (a filter), then create it or bring it to ``desired``; returns its id."""
        record = None if PLACEHOLDER in lookup.values() else endpoint.get(**lookup)
        return self.reconcile(endpoint, label, record, desired, shared=True)

    def reconcile(
        self, endpoint: Any, label: str, record: Record | None, desired: dict[str, Any], *, shared: bool
    ) -> int:
        if record is None:
            self.report.created.append(label)
            if self.report.dry_run:
                return PLACEHOLDER
            return int(endpoint.create(**desired, tags=[self.tag_id]).id)
        if not _tagged(record):
            if shared:
                return int(record.id)  # made by hand: used, never changed
            raise WerkraumError(
                f"NetBox already has {label}, not created by Werkraum (it lacks the tag '{TAG}')",
                hint=f"add the tag '{TAG}' to it in NetBox to let sync manage it, or rename the host",
            )
        diff = {k: v for k, v in desired.items() if not _same(k, getattr(record, k, None), v)}
        if diff:
            self.report.updated.append(
                f"{label}: " + ", ".join(_change(k, getattr(record, k, None), v) for k, v in diff.items())
            )
            if not self.report.dry_run:
                record.update(diff)
        return int(record.id)

    # --- the rack ---------------------------------------------------------------------

    def sync(self, rack: RackDescription) -> SyncReport:
        api = self.api
        tag = api.extras.tags.get(slug=TAG)
        if tag is not None:
            self.tag_id = int(tag.id)
        else:
            self.report.created.append(f"tag {TAG}")
            if not self.report.dry_run:
                self.tag_id = int(api.extras.tags.create(name=TAG, slug=TAG, color="1e3a8a").id)
        self._custom_fields()
        slug = slugify(rack.site)
        site = self.ensure(api.dcim.sites, f"site {rack.site}", {"slug": slug}, {"name": rack.site, "slug": slug})
        rack_id = self.ensure(
            api.dcim.racks, f"rack {rack.rack}", {"site_id": site, "name": rack.rack}, {"site": site, "name": rack.rack}
        )
        roles = {
            r: self.ensure(
                api.dcim.device_roles, f"device role {r}", {"slug": r}, {"name": r, "slug": r, "color": ROLE_COLORS[r]}
            )
            for r in sorted({d.role for d in rack.devices})
        }
        types: dict[tuple[str, str], int] = {}
        for dt in sorted({d.device_type for d in rack.devices}, key=lambda t: (t.manufacturer, t.model)):
            maker = self.ensure(
                api.dcim.manufacturers, f"manufacturer {dt.manufacturer}", {"slug": slugify(dt.manufacturer)},
                {"name": dt.manufacturer, "slug": slugify(dt.manufacturer)},
            )  # fmt: skip
            types[(dt.manufacturer, dt.model)] = self.ensure(
                api.dcim.device_types, f"device type {dt.manufacturer} {dt.model}",
                {"manufacturer_id": maker, "slug": slugify(dt.model)},
                {"manufacturer": maker, "model": dt.model, "slug": slugify(dt.model)},
            )  # fmt: skip
        self.ensure(
            api.ipam.prefixes, f"prefix {rack.mgmt_network} (management)", {"prefix": rack.mgmt_network},
            {"prefix": rack.mgmt_network, "status": "active", "description": f"Management network of {rack.site}"},
        )  # fmt: skip
        self.ensure(
            api.ipam.prefixes, f"prefix {rack.tenant_pool} (tenant pool)", {"prefix": rack.tenant_pool},
            {"prefix": rack.tenant_pool, "status": "container", "description": "Werkraum tenant networks"},
        )  # fmt: skip
        for what, cidr in rack.reserved_in_pool:
            self.ensure(
                api.ipam.prefixes, f"prefix {cidr} (reserved: {what})", {"prefix": cidr},
                {"prefix": cidr, "status": "reserved", "description": f"Werkraum platform: {what}"},
            )  # fmt: skip
        self._devices(rack, site, rack_id, roles, types)
        return self.report

    def _custom_fields(self) -> None:
        """The device custom fields that hold per-host facts (custom fields carry no tags: matched by name)."""
        for name, (kind, description, regex) in sorted(CUSTOM_FIELDS.items()):
            record = self.api.extras.custom_fields.get(name=name)
            if record is not None:
                kinds = _value(getattr(record, "type", None))
                objects = list(getattr(record, "object_types", None) or [])
                if kinds != kind or "dcim.device" not in objects:
                    raise WerkraumError(
                        f"NetBox already has a custom field {name} (type {kinds}, on "
                        f"{', '.join(objects) or 'nothing'}); Werkraum needs type {kind} on dcim.device",
                        hint=f"change or delete that custom field in NetBox ({name} is a host variable the roles read)",
                    )
                continue
            self.report.created.append(f"custom field {name} ({kind}, on devices)")
            if not self.report.dry_run:
                self.api.extras.custom_fields.create(
                    name=name,
                    label=name,
                    type=kind,
                    object_types=["dcim.device"],
                    description=description,
                    validation_regex=regex,
                    group_name="Werkraum",
                )

    def _devices(
        self, rack: RackDescription, site: int, rack_id: int, roles: dict[str, int], types: dict[tuple[str, str], int]
    ) -> None:
        api = self.api
        known = {d.name: d for d in api.dcim.devices.filter(site_id=site)} if site != PLACEHOLDER else {}
        interfaces = (
            {(i.device.id, i.name): i for i in api.dcim.interfaces.filter(site_id=site)} if site != PLACEHOLDER else {}
        )
        addresses = {ip.address: ip for ip in api.ipam.ip_addresses.filter(parent=rack.mgmt_network)}
        for device in rack.devices:
            desired = {
                "name": device.name,
                "site": site,
                "rack": rack_id,
                "role": roles[device.role],
                "device_type": types[(device.device_type.manufacturer, device.device_type.model)],
                "status": "active",
            }
            if device.position is not None:
                desired.update(position=device.position, face="front")
            if device.custom_fields:
                desired["custom_fields"] = dict(device.custom_fields)
            self._device(device, known.get(device.name), desired, interfaces, addresses)
        wanted = {d.name for d in rack.devices}
        for name, record in sorted(known.items()):
            if name not in wanted and _tagged(record):
                self.report.notes.append(
                    f"device {name} is in NetBox (tagged {TAG}) but not in {rack.source.name}: left as it is; "
                    "remove it in NetBox once the host is gone"
                )

    def _device(
        self,
        device: Device,
        record: Record | None,
        desired: dict[str, Any],
        interfaces: dict[tuple[int, str], Record],
        addresses: dict[str, Record],
    ) -> None:
        api = self.api
        if PLACEHOLDER in desired.values() and record is None:
            self.report.created.append(f"device {device.name} ({device.role}, {device.address})")
            return
        device_id = self.reconcile(api.dcim.devices, f"device {device.name}", record, desired, shared=False)
        iface = interfaces.get((device_id, device.interface))
        iface_id = self.reconcile(
            api.dcim.interfaces, f"interface {device.name} {device.interface}", iface,
            {"device": device_id, "name": device.interface, "type": "other"}, shared=False,
        )  # fmt: skip
        ip_record = addresses.get(device.address)
        ip_id = self.reconcile(
            api.ipam.ip_addresses, f"address {device.address} ({device.name})", ip_record,
            {"address": device.address, "status": "active", "assigned_object_type": "dcim.interface",
             "assigned_object_id": iface_id, "dns_name": ""},
            shared=False,
        )  # fmt: skip
        if record is None or _value(getattr(record, "primary_ip4", None)) != ip_id:
            if record is not None:
                self.report.updated.append(f"device {device.name}: primary_ip4 -> {device.address}")
            if not self.report.dry_run:  # one PATCH by id: a device created just now has no record here
                api.dcim.devices.update([{"id": device_id, "primary_ip4": ip_id}])


def sync_rack(api: pynetbox.api, rack: RackDescription, *, dry_run: bool = False) -> SyncReport:
    return Syncer(api, dry_run).sync(rack)
