"""The platform's health, for administrators: what runs, and whether orders go through. No one
else's strategies, keys or orders are shown here: only counts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import func, select, text

from tradewinds.storage.trading_models import AssignmentRow, OrderRow, UserRow
from tradewinds.web.deps import AdminUser, Engine
from tradewinds.web.schemas import ERROR_RESPONSES, ComponentOut, HealthOut
from tradewinds.web.sessions import now_ms

router = APIRouter(responses=ERROR_RESPONSES, tags=["admin"])


@router.get("/admin/health", response_model=HealthOut)
async def health(request: Request, admin: AdminUser, engine: Engine) -> HealthOut:
    from tradewinds.bus.presence import is_current, query_presence

    now = now_ms()
    database = "ok"
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            users = int((await conn.execute(select(func.count(UserRow.id)))).scalar_one())
            enabled = int(
                (
                    await conn.execute(
                        select(func.count(AssignmentRow.id)).where(AssignmentRow.enabled.is_(True))
                    )
                ).scalar_one()
            )
            recent = select(func.count(OrderRow.id)).where(OrderRow.created_ms >= now - 3_600_000)
            orders = int((await conn.execute(recent)).scalar_one())
            failed = int(
                (await conn.execute(recent.where(OrderRow.status.in_(("failed", "rejected"))))).scalar_one()
            )
    except Exception as exc:
        database, users, enabled, orders, failed = f"unreachable: {exc}", 0, 0, 0, 0
    bus = request.app.state.bus
    components: list[ComponentOut] = []
    bus_state = "not connected (this web server runs without a bus: pages are not live)"
    if bus is not None:
        bus_state = "ok" if bus.is_connected else "reconnecting"
        for a in await query_presence(bus, wait_s=0.3):
            if is_current(a, now):
                components.append(
                    ComponentOut(
                        component=a.component,
                        instance=a.instance,
                        host=a.host,
                        pid=a.pid,
                        age_s=(now - a.started_ms) / 1000,
                    )
                )
    return HealthOut(
        database=database,
        bus=bus_state,
        components=sorted(components, key=lambda c: (c.component, c.instance)),
        users=users,
        enabled_assignments=enabled,
        orders_last_hour=orders,
        failed_orders_last_hour=failed,
    )
