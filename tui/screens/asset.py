"""One asset up close: its tags with values, states and ranges, and a trend chart of one tag."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Sparkline, Static

from tui.backend import TREND_WINDOW_S, AssetView, Backend, downsample
from tui.format import number, state_text

CHART_POINTS = 100


class AssetScreen(ModalScreen[None]):
    """The asset's tags; the highlighted tag's last ten minutes as a chart."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("escape,q", "dismiss", "Close"),
    ]

    def __init__(
        self, backend: Backend, asset: AssetView, tag: str | None, refresh_s: float = 1.0
    ) -> None:
        super().__init__()
        self.backend = backend
        self.asset = asset
        self.tag = tag or (asset.tags[0].tag if asset.tags else None)
        self.refresh_s = refresh_s

    def compose(self) -> ComposeResult:
        """Lay out the tag table and the chart."""
        a = self.asset
        with Vertical(classes="dialog"):
            yield Static(f"{a.id} {a.name}", classes="dialog-title", markup=False)
            yield Static(f"{a.type}, {a.location}", classes="note", markup=False)
            table: DataTable[str | Content] = DataTable(id="asset-tags", cursor_type="row")
            for key, label, width in (
                ("tag", "Tag", 22),
                ("value", "Value", 15),
                ("state", "State", 14),
                ("trend", "Trend", 9),
                ("normal", "Normal", 12),
            ):
                table.add_column(label, key=key, width=width)
            yield table
            yield Static("", id="trend-label", markup=False)
            yield Sparkline([], id="trend-chart")
            yield Static(
                "Up/Down chooses the tag for the chart · Esc closes", classes="dialog-keys"
            )

    def on_mount(self) -> None:
        """Fill the table, focus it and keep it and the chart up to date."""
        self._fill(self.asset)
        table = self.query_one("#asset-tags", DataTable)
        tags = [t.tag for t in self.asset.tags]
        if self.tag in tags:
            table.move_cursor(row=tags.index(self.tag))
        table.focus()
        self._load()
        self.set_interval(self.refresh_s, self._load)

    def _fill(self, asset: AssetView) -> None:
        self.asset = asset
        table = self.query_one("#asset-tags", DataTable)
        for tag in asset.tags:
            normal = f"{number(tag.normal[0])}-{number(tag.normal[1])}" if tag.normal else "-"
            cells: dict[str, str | Content] = {
                "tag": tag.name,
                "value": f"{number(tag.value)} {tag.unit}".strip(),
                "state": state_text(tag.state),
                "trend": tag.trend,
                "normal": normal,
            }
            if tag.tag in table.rows:
                for column, cell in cells.items():
                    table.update_cell(tag.tag, column, cell)
            else:
                table.add_row(*cells.values(), key=tag.tag)

    @on(DataTable.RowHighlighted, "#asset-tags")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.row_key.value != self.tag:
            self.tag = event.row_key.value
            self._load()

    @work(thread=True, exclusive=True, group="asset")
    def _load(self) -> None:
        """Read the asset and the chosen tag's window off the event loop."""
        assets = {a.id: a for a in self.backend.assets()}
        asset = assets.get(self.asset.id, self.asset)
        tag = self.tag
        window = self.backend.tag_window(asset.id, tag, TREND_WINDOW_S) if tag else []
        self.app.call_from_thread(self._show, asset, tag, window)

    def _show(self, asset: AssetView, tag: str | None, window: list[tuple[float, float]]) -> None:
        if not self.is_attached:
            return
        self._fill(asset)
        spec = next((t for t in asset.tags if t.tag == tag), None)
        values = [v for _, v in window]
        label = self.query_one("#trend-label", Static)
        if spec is None or not values:
            label.update(f"{tag or ''}: no values in the last {TREND_WINDOW_S / 60:.0f} min")
        else:
            label.update(
                f"{spec.name}, last {TREND_WINDOW_S / 60:.0f} min ({len(values)} values): "
                f"min {number(min(values))}, max {number(max(values))}, "
                f"now {number(values[-1])} {spec.unit}"
            )
        self.query_one("#trend-chart", Sparkline).data = list(downsample(values, CHART_POINTS))
