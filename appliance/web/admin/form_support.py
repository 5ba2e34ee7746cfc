"""What the automation, import and administration pages share: the branches a form offers and the one
time zone of pages that span every branch."""

from __future__ import annotations

from appliance.auth.actor import Actor
from appliance.catalog import queries as catalog_queries
from appliance.catalog.schemas import Branch

# Pages about the whole business (audit log, accounts, deliveries) are in no one branch's zone: they
# show China Standard Time and say so.
BUSINESS_ZONE = "Asia/Shanghai"
MOST_BRANCHES = 200


async def branch_choices(actor: Actor) -> list[Branch]:
    """The branches the actor may see, for a form's branch select."""
    branches, _ = await catalog_queries.list_branches(actor=actor, after=None, limit=MOST_BRANCHES)
    return branches
