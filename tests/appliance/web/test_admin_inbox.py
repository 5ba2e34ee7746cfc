"""The staff inbox page on both engines: a signed-in staff member sees only their own messages, newest
first, filters the unread ones and marks one read; another's message stays unknown to them."""

from __future__ import annotations

from uuid import UUID, uuid4

import httpx

from appliance.auth.roles import Role
from appliance.notifications.inbox import deliver_to_inbox
from appliance.notifications.tables import InboxItem
from appliance.testing.builders import make_user, sign_in_as

HTMX = {"HX-Request": "true", "Origin": "https://testserver"}


async def test_a_staff_member_reads_their_own_inbox_and_marks_a_message_read(client: httpx.AsyncClient) -> None:
    me = await sign_in_as(client, "desk", Role.front_desk)
    mine = UUID(me["user"]["id"])
    other = (await make_user("other", Role.front_desk)).id
    await deliver_to_inbox(uuid4(), mine, None, "预约待审批", "张三的预约等待您审批。")
    await deliver_to_inbox(uuid4(), other, None, "别人的消息", "不该看到。")

    page = await client.get("/admin/inbox")

    assert page.status_code == 200
    assert "预约待审批" in page.text and "别人的消息" not in page.text
    assert 'href="/admin/inbox"' in page.text  # in the navigation of every role
    [item_id] = [line.split('id="item-')[1].split('"')[0] for line in page.text.splitlines() if 'id="item-' in line]

    read = await client.post(f"/admin/inbox/{item_id}/read", headers=HTMX)
    unread = await client.get("/admin/inbox?unread=1")

    assert read.status_code == 200 and "Mark as read" not in read.text and "标记为已读" not in read.text
    assert "预约待审批" not in unread.text


async def test_someone_elses_message_cannot_be_marked_read(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "desk", Role.front_desk)
    other = (await make_user("other", Role.front_desk)).id
    await deliver_to_inbox(uuid4(), other, None, "别人的消息", "不该看到。")
    [row] = await InboxItem.select(InboxItem.id)

    refused = await client.post(f"/admin/inbox/{row['id']}/read", headers=HTMX)

    assert refused.status_code == 404
    assert await InboxItem.count().where(InboxItem.read_at.is_null()) == 1
