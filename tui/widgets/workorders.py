"""The work-orders pane: every work order with its status; open, edit, approve, reject, export."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from assistant.workorders.model import WorkOrder

STATUS_STYLE = {
    "draft": "bold $warning",
    "approved": "bold $success",
    "rejected": "$error",
    "exported": "$text-muted",
}
PRIORITY_STYLE = {"emergency": "bold reverse $error", "high": "bold $error", "medium": "$warning"}


class WorkOrdersPane(Vertical):
    """The list of work orders; actions apply to the highlighted one."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("enter", "act('open')", "Open", show=False),
        Binding("e", "act('edit')", "Edit", tooltip="Edit a field of the draft"),
        Binding("p", "act('approve')", "Approve", tooltip="Approve the draft"),
        Binding("r", "act('reject')", "Reject", tooltip="Reject the draft with a reason"),
        Binding("x", "act('export')", "Export", tooltip="Export the approved work order"),
    ]

    @dataclass
    class Action(Message):
        """The operator asked for an action on a work order (open, edit, approve, ...)."""

        action: str
        order_id: str

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Work orders"
        self.orders: dict[str, WorkOrder] = {}

    def compose(self) -> ComposeResult:
        """Lay out the work-order table (and its empty state)."""
        yield Static(
            "No work orders yet: draft one from an alarm (Alarms, d).",
            classes="empty",
            id="orders-empty",
        )
        table: DataTable[str | Content] = DataTable(id="order-table", cursor_type="row")
        table.add_column("Id", key="id", width=16)
        table.add_column("Status", key="status", width=8)
        table.add_column("Prio", key="priority", width=9)
        table.add_column("Asset", key="asset", width=6)
        table.add_column("Title", key="title")
        yield table

    def show(self, orders: list[WorkOrder]) -> None:
        """Redraw the list, keeping the cursor on the same work order."""
        table = self.query_one("#order-table", DataTable)
        self.query_one("#orders-empty", Static).set_class(bool(orders), "-hidden")
        drafts = sum(1 for o in orders if o.status == "draft")
        self.border_title = f"Work orders ({drafts} to review)" if drafts else "Work orders"
        if [o.model_dump() for o in orders] == [o.model_dump() for o in self.orders.values()]:
            return
        current = self.selected()
        self.orders = {o.id: o for o in orders}
        table.clear()
        for order in orders:
            table.add_row(
                order.id,
                Content.styled(order.status, STATUS_STYLE.get(order.status, "")),
                Content.styled(order.priority, PRIORITY_STYLE.get(order.priority, "")),
                order.asset,
                order.title,
                key=order.id,
            )
        if current is not None and current.id in self.orders:
            table.move_cursor(row=list(self.orders).index(current.id))

    def select(self, order_id: str) -> None:
        """Move the cursor to a work order."""
        if order_id in self.orders:
            table = self.query_one("#order-table", DataTable)
            table.move_cursor(row=list(self.orders).index(order_id))

    def selected(self) -> WorkOrder | None:
        """Return the highlighted work order, if any."""
        table = self.query_one("#order-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.orders.get(key or "")

    @on(DataTable.RowSelected, "#order-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_act("open")

    def action_act(self, action: str) -> None:
        """Ask for an action on the highlighted work order."""
        order = self.selected()
        if order is None:
            self.notify("No work order selected.", severity="warning")
        else:
            self.post_message(self.Action(action, order.id))
