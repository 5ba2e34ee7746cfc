"""Forms and their versions. A form's fields are never edited in place: each edit adds a version, and
answers keep the id and version of the form they were given under."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from appliance.catalog.tables import Branch, Service


class Form(Table):
    id = UUID(primary_key=True)
    target = Varchar(length=16)  # service | customers
    # What it is attached to ("service:<id>", "customers"): one active form each. Emptied when the form
    # is archived, so a new one can take its place while answers still point to the old one.
    attached_to = Varchar(length=64, null=True, default=None, unique=True)
    service = ForeignKey(Service, null=True, on_delete=OnDelete.restrict)
    branch = ForeignKey(Branch, null=True, on_delete=OnDelete.restrict)  # the service's; None for customers
    name = Varchar(length=200)
    version = Integer(default=1)  # the current version
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class FormVersion(Table):
    id = UUID(primary_key=True)
    form = ForeignKey(Form, on_delete=OnDelete.restrict, index=True)
    # "<form id>:<version>": unique, so two concurrent edits cannot both add the same version.
    form_version = Varchar(length=48, unique=True)
    version = Integer()
    fields = JSON(default=[])
    created_at = Timestamptz()
