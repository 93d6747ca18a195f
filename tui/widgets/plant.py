"""The plant pane: every tag's live value, unit, state colour and sparkline, by asset."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from tui.backend import AssetView
from tui.format import number, sparkline, state_text

SPARK_WIDTH = 12
COLUMNS = (
    ("asset", "Asset", 6),
    ("tag", "Tag", 21),
    ("value", "Value", 14),
    ("state", "State", 14),
)


class PlantPane(Vertical):
    """A table of every tag; Enter opens the asset with its trend chart."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("enter", "open_asset", "Open asset", tooltip="Tags and trend chart of the asset"),
    ]

    @dataclass
    class AssetChosen(Message):
        """The operator chose an asset to look at closely."""

        asset: str
        tag: str | None

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Plant"
        self._rows: set[str] = set()

    def compose(self) -> ComposeResult:
        """Lay out the tag table (and its empty state)."""
        yield Static("Waiting for the plant's live values ...", classes="empty", id="plant-empty")
        table: DataTable[str | Content] = DataTable(
            id="plant-table", cursor_type="row", zebra_stripes=True
        )
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        table.add_column("Recent", key="recent", width=SPARK_WIDTH)
        yield table

    def show(self, assets: list[AssetView]) -> None:
        """Redraw the values in place (rows are added once, then updated)."""
        table = self.query_one("#plant-table", DataTable)
        empty = self.query_one("#plant-empty", Static)
        if not assets:
            empty.update("No plant configured: set plant.file to see live values.")
        empty.set_class(bool(assets), "-hidden")
        for asset in assets:
            for tag in asset.tags:
                key = f"{tag.asset}/{tag.tag}"
                value = f"{number(tag.value)} {tag.unit}".strip() if tag.value is not None else "-"
                cells: dict[str, str | Content] = {
                    "asset": tag.asset,
                    "tag": tag.name,
                    "value": value,
                    "state": state_text(tag.state),
                    "recent": Content.styled(sparkline(tag.spark, SPARK_WIDTH), "$accent"),
                }
                if key not in self._rows:
                    table.add_row(*cells.values(), key=key)
                    self._rows.add(key)
                else:
                    for column, cell in cells.items():
                        table.update_cell(key, column, cell)

    @on(DataTable.RowSelected, "#plant-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._choose(event.row_key.value)

    def action_open_asset(self) -> None:
        """Open the asset of the highlighted row."""
        table = self.query_one("#plant-table", DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            self._choose(key)

    def _choose(self, key: str | None) -> None:
        if key:
            asset, _, tag = key.partition("/")
            self.post_message(self.AssetChosen(asset, tag or None))
