"""Work orders on the wire: one order, a list of them, and where an export went.

A work order is already our own validated, frozen model, so its wire shape is its fields;
``WorkOrderOut`` names that shape for the API's schema and gives a client the domain object
back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from assistant.schema.base import WireModel
from assistant.workorders.model import WorkOrder

if TYPE_CHECKING:
    from assistant.workorders.export import ExportResult


class WorkOrderOut(WorkOrder):
    """A maintenance work order with its evidence and edit history, from draft to export."""

    @classmethod
    def from_domain(cls, order: WorkOrder) -> Self:
        """Return a work order as it is sent."""
        return cls.model_validate(order.model_dump())

    def to_domain(self) -> WorkOrder:
        """Return the work order this was sent from."""
        return WorkOrder.model_validate(self.model_dump())


class WorkOrderList(WireModel):
    """Work orders, newest first."""

    workorders: list[WorkOrderOut]

    @classmethod
    def from_domain(cls, orders: list[WorkOrder]) -> Self:
        """Return work orders as they are sent."""
        return cls(workorders=[WorkOrderOut.from_domain(o) for o in orders])


class ExportOut(WireModel):
    """Where an exported work order went."""

    workorder: WorkOrderOut
    json_path: str
    csv_path: str
    mqtt_topic: str | None

    @classmethod
    def from_domain(cls, result: ExportResult) -> Self:
        """Return an export's outcome as it is sent."""
        return cls(
            workorder=WorkOrderOut.from_domain(result.order),
            json_path=str(result.json_path),
            csv_path=str(result.csv_path),
            mqtt_topic=result.mqtt_topic,
        )
