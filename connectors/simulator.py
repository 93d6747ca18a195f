"""A deterministic physical model of the sample plant (Riverbend), publishing through a Publisher.

Equipment modelled (ids of the sample plant; tags a given plant file does not declare are not
emitted, and assets it lacks are simulated but not emitted):

* **P-101 / P-102**, raw-water pumps, one duty and one standby. The running pump's operating
  point is where its affinity-law curve ``H = (H0 - k Q²) φ`` (at full speed, ``φ`` < 1 when
  cavitating) meets the wet well's suction head, the suction line and strainer losses and the
  system curve ``p = p_static + r Q²``. Motor current follows hydraulic power over pump
  efficiency (a parabola around the best-efficiency point), motor efficiency and power factor;
  the bearing temperature is a first-order lag (10 min) to a target set by shaft load;
  vibration is a baseline with noise. The standby pump publishes honest values: no flow, no
  current, suction and discharge (casing side of the check valve) at the wet well's static
  pressure, bearing at room temperature, a trace of vibration from its running neighbour.
* **ST-101 / ST-102**, suction strainers: ``ΔP = k (1 + fouling) Q²``.
* **C-3**, screw compressor: loads at 6.6 bar and unloads at 7.4 bar (inside the 6.5/7.5 bar
  rating, leaving room for sensor noise), receiver and piping of 3 m³, free-air delivery
  6.1 m³/min against an air demand that wanders between 2.2 and 5.2 m³/min; current 55-62 A
  loaded, about 23 A unloaded; oil heated by the compressor and cooled through a thermostatic
  oil cooler into the closed cooling loop; discharge temperature a lag to oil temperature plus
  the compression rise.
* **HX-12**, plate exchanger cooling that loop with raw water at 22 °C: the outlet runs an
  approach above the raw water (4 K clean at average duty), the inlet above the outlet by the
  duty over the loop's flow.

Faults (:data:`FAULTS`), each ramping linearly from its start to ``severity`` over ``ramp_s``:
``cavitation`` (pump: the wet well draws down, suction pressure falls below 0.15 bar, head,
flow and discharge pressure fall and fluctuate, vibration rises above 4.5 mm/s),
``bearing_wear`` (pump: vibration and bearing temperature rise), ``clogging_strainer``
(strainer or its pump: strainer ΔP rises, suction pressure and flow fall, with cavitation once
the suction pressure is low enough), ``cooler_fouling`` (C-3: its oil cooler, so oil and
discharge temperatures rise; HX-12: its plates, so the approach and both loop temperatures rise)
and ``air_leak`` (C-3: demand beyond the compressor's delivery, pressure falls below 5.8 bar).

:meth:`PlantSimulator.step` is pure computation (no I/O, no clock): with the same seed, start
time, faults and steps it returns the same readings. :func:`run_publisher` drives it in real
time and publishes each reading with the codec, on its tag's topic and in its tag's format.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from assistant.domain import Reading
from assistant.errors import ConfigError
from assistant.plant import PlantSpec
from connectors.publishing import Publisher, ReadingWriter

PUMPS = ("P-101", "P-102")
STRAINERS = {"P-101": "ST-101", "P-102": "ST-102"}
COMPRESSOR = "C-3"
EXCHANGER = "HX-12"
SIMULATED_ASSETS = (*PUMPS, *STRAINERS.values(), COMPRESSOR, EXCHANGER)

FAULTS: dict[str, tuple[str, ...]] = {
    "cavitation": PUMPS,
    "bearing_wear": PUMPS,
    "clogging_strainer": (*STRAINERS.values(), *PUMPS),
    "cooler_fouling": (COMPRESSOR, EXCHANGER),
    "air_leak": (COMPRESSOR,),
}
DEFAULT_RAMP_S: dict[str, float] = {
    "cavitation": 30.0,
    "bearing_wear": 600.0,
    "clogging_strainer": 300.0,
    "cooler_fouling": 600.0,
    "air_leak": 10.0,
}

_MAX_SUBSTEP_S = 0.5
_WARM_UP_S = 1800.0

# Water and pumps
_RHO_G = 998.0 * 9.81 / 1e5  # bar per metre of water
_Q_DESIGN = 320.0  # m3/h
_Q_BEP = 340.0
_P_WELL = 0.65  # bar, wet-well static head at the pump suction
_K_LINE = 0.05 / _Q_DESIGN**2  # suction line loss coefficient, bar/(m3/h)^2
_K_STRAINER = 0.10 / _Q_DESIGN**2  # clean strainer
_H0 = 50.0  # m, shut-off head
_K_PUMP = 10.0 / _Q_DESIGN**2  # m/(m3/h)^2: 40 m at 320 m3/h
_P_STATIC = 2.6  # bar, static part of the system curve
_P_DISCHARGE_DESIGN = _P_WELL - (_K_LINE + _K_STRAINER) * _Q_DESIGN**2 + _RHO_G * 40.0
_R_SYSTEM = (_P_DISCHARGE_DESIGN - _P_STATIC) / _Q_DESIGN**2
_ETA_BEP = 0.74
_ETA_MOTOR = 0.94
_VOLTS = 400.0
_POWER_FACTOR = 0.82
_SHAFT_DESIGN_KW = 47.2
_ROOM_C = 22.0
_BEARING_TAU_S = 600.0
_FLOW_TAU_S = 2.0
_CAVITATION_TAU_S = 3.0
_CAVITATION_ONSET_BAR = 0.22
_CAVITATION_SPAN_BAR = 0.25
_WELL_DRAWDOWN_BAR = 0.62  # cavitation at severity 1
_CLOGGING_FOULING = 8.0  # strainer fouling factor at severity 1

# Compressor, cooling loop and HX-12
_P_ATM = 1.013
_V_AIR_M3 = 3.0
_FAD_M3_MIN = 6.1
_LOAD_AT, _UNLOAD_AT = 6.6, 7.4
_DEMAND_MEAN, _DEMAND_LOW, _DEMAND_HIGH = 3.6, 2.2, 5.2
_DEMAND_TAU_S, _DEMAND_SIGMA = 900.0, 0.6
_LEAK_M3_MIN = 3.5  # air leak at severity 1
_HEAT_LOADED_KW, _HEAT_UNLOADED_KW = 33.0, 9.0
_OIL_CAPACITY_KJ_K = 200.0
_UA_OIL_KW_K = 2.0
_THERMOSTAT_C, _THERMOSTAT_SPAN_K = 50.0, 10.0
_COOLER_FOULING_LOSS = 0.75  # share of the oil cooler's UA lost at severity 1
_LOOP_TAU_S = 180.0
_LOOP_FLOW_KW_K = 2.76  # 0.66 kg/s of water
_APPROACH_CLEAN_K, _APPROACH_DUTY_KW = 4.0, 22.7
_HX_FOULING_GAIN = 3.2  # approach multiplier - 1 at severity 1
_RAW_WATER_C = 22.5
_DISCHARGE_RISE_LOADED_K, _DISCHARGE_RISE_UNLOADED_K = 32.0, 24.0
_DISCHARGE_TAU_S = 40.0
_CURRENT_TAU_S = 1.5

# Measurement noise (standard deviation) per (asset kind, tag)
_NOISE: dict[str, float] = {
    "discharge_pressure": 0.02,
    "suction_pressure": 0.008,
    "flow": 1.2,
    "motor_current": 0.4,
    "vibration": 0.06,
    "bearing_temp": 0.1,
    "differential_pressure": 0.004,
    "c_discharge_pressure": 0.008,
    "discharge_temp": 0.25,
    "c_motor_current": 0.3,
    "oil_temp": 0.15,
    "inlet_temp": 0.1,
    "outlet_temp": 0.1,
}


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault injected into one asset from ``at_s`` (seconds after start), ramping over ramp_s."""

    name: str
    asset: str
    at_s: float
    severity: float
    ramp_s: float

    def level(self, t: float) -> float:
        """Return the fault's strength at simulated time t: 0 before it starts, severity after."""
        if t < self.at_s:
            return 0.0
        if self.ramp_s <= 0:
            return self.severity
        return self.severity * min(1.0, (t - self.at_s) / self.ramp_s)


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What run_publisher did: steps taken, messages sent, simulated seconds covered."""

    steps: int
    published: int
    simulated_s: float
    stopped: bool


@dataclass(slots=True)
class _Pump:
    running: bool
    flow: float = 0.0
    cavitation: float = 0.0
    swirl: float = 0.0  # AR(1) fluctuation under cavitation, about -1..1
    bearing_c: float = _ROOM_C
    suction: float = _P_WELL
    discharge: float = _P_WELL
    current: float = 0.0
    shaft_kw: float = 0.0


@dataclass(slots=True)
class _Compressor:
    loaded: bool = True
    pressure: float = 7.0
    demand: float = _DEMAND_MEAN
    current: float = 58.0
    oil_c: float = 54.0
    discharge_c: float = 84.0
    loop_kw: float = _APPROACH_DUTY_KW


class PlantSimulator:
    """The sample plant's equipment as a seeded, steppable model; see the module docstring."""

    def __init__(
        self,
        plant: PlantSpec,
        seed: int = 0,
        start_ts: float | None = None,
        *,
        duty: str = "P-101",
    ) -> None:
        if duty not in PUMPS:
            raise ConfigError(f"simulator: duty pump must be one of {PUMPS}, got '{duty}'")
        self.plant = plant
        self.seed = seed
        self.start_ts = time.time() if start_ts is None else start_ts
        self.duty = duty
        self.t = 0.0
        self._rng = random.Random(seed)
        self._emitted = self._emitted_tags(plant)
        self._faults: list[Fault] = []
        self._well = 0.0  # slow wet-well level variation, bar
        self._raw_water = _RAW_WATER_C
        self._pumps = {pump: _Pump(running=pump == duty) for pump in PUMPS}
        self._compressor = _Compressor()
        for pump in self._pumps.values():
            self._settle_pump(pump)
        self._advance(_WARM_UP_S, -_WARM_UP_S)
        self.t = 0.0

    @property
    def faults(self) -> tuple[Fault, ...]:
        """Return the injected faults, in the order given."""
        return tuple(self._faults)

    def inject(
        self,
        fault: str,
        asset: str,
        at_s: float | datetime = 0.0,
        severity: float = 1.0,
        ramp_s: float | None = None,
    ) -> Fault:
        """Schedule a fault on an asset at seconds after start or at a wall-clock time.

        A naive datetime is local time (as ``datetime.timestamp`` reads it). ``ramp_s`` defaults
        to the fault's typical onset (:data:`DEFAULT_RAMP_S`). Raise ConfigError for an unknown
        fault, an asset it does not apply to, or a severity outside 0..2.
        """
        if fault not in FAULTS:
            raise ConfigError(f"simulator: unknown fault '{fault}' (known: {', '.join(FAULTS)})")
        target = asset.upper()
        if target not in FAULTS[fault]:
            raise ConfigError(
                f"simulator: fault '{fault}' applies to {', '.join(FAULTS[fault])}, not '{asset}'"
            )
        if fault == "clogging_strainer" and target in STRAINERS:
            target = STRAINERS[target]
        if not 0.0 <= severity <= 2.0 or math.isnan(severity):
            raise ConfigError(f"simulator: severity must be within 0..2, got {severity}")
        start = at_s.timestamp() - self.start_ts if isinstance(at_s, datetime) else float(at_s)
        ramp = DEFAULT_RAMP_S[fault] if ramp_s is None else ramp_s
        if ramp < 0 or math.isnan(ramp) or math.isnan(start):
            raise ConfigError(f"simulator: bad fault timing (at {start} s, ramp {ramp} s)")
        injected = Fault(fault, target, start, severity, ramp)
        self._faults.append(injected)
        return injected

    def step(self, dt: float) -> list[Reading]:
        """Advance the model by dt seconds and return one reading per emitted tag."""
        if not dt > 0 or math.isinf(dt):
            raise ValueError(f"step dt must be a positive number of seconds, got {dt}")
        self._advance(dt, self.t)
        self.t += dt
        return self._readings()

    # -- model -----------------------------------------------------------------------------

    def _level(self, fault: str, asset: str, t: float) -> float:
        return sum(f.level(t) for f in self._faults if f.name == fault and f.asset == asset)

    def _advance(self, dt: float, t0: float) -> None:
        steps = max(1, math.ceil(dt / _MAX_SUBSTEP_S - 1e-9))
        h = dt / steps
        for i in range(steps):
            t = t0 + (i + 1) * h
            self._well = _ou(self._well, 0.0, 0.02, 1200.0, h, self._rng)
            self._raw_water = _ou(self._raw_water, _RAW_WATER_C, 0.25, 3600.0, h, self._rng)
            for pump_id, pump in self._pumps.items():
                self._pump_step(pump_id, pump, h, t)
            self._compressor_step(h, t)

    def _strainer_k(self, pump_id: str, t: float) -> float:
        fouling = _CLOGGING_FOULING * self._level("clogging_strainer", STRAINERS[pump_id], t)
        return _K_STRAINER * (1.0 + fouling)

    def _settle_pump(self, pump: _Pump) -> None:
        if not pump.running:
            return
        pump.flow = _operating_flow(_P_WELL, 1.0, _K_STRAINER)
        pump.suction = _P_WELL - (_K_LINE + _K_STRAINER) * pump.flow**2
        pump.shaft_kw = _SHAFT_DESIGN_KW
        pump.bearing_c = _bearing_target(pump.shaft_kw, 0.0)

    def _pump_step(self, pump_id: str, pump: _Pump, h: float, t: float) -> None:
        well = _P_WELL + self._well
        if not pump.running:
            pump.flow = pump.cavitation = pump.current = pump.shaft_kw = 0.0
            pump.suction = pump.discharge = well
            pump.bearing_c += (_ROOM_C - pump.bearing_c) * h / _BEARING_TAU_S
            return
        well -= _WELL_DRAWDOWN_BAR * self._level("cavitation", pump_id, t)
        wear = self._level("bearing_wear", pump_id, t)
        k_strainer = self._strainer_k(pump_id, t)
        pump.swirl = _ar1(pump.swirl, 0.7, h, self._rng)
        phi = 1.0 - 0.25 * pump.cavitation * (1.0 + 0.4 * pump.swirl)
        target = _operating_flow(well, phi, k_strainer)
        pump.flow += (target - pump.flow) * min(1.0, h / _FLOW_TAU_S)
        q2 = pump.flow**2
        pump.suction = well - (_K_LINE + k_strainer) * q2
        pump.discharge = _P_STATIC + _R_SYSTEM * q2
        npsh_deficit = (_CAVITATION_ONSET_BAR - pump.suction) / _CAVITATION_SPAN_BAR
        cav_target = min(1.0, max(0.0, npsh_deficit))
        pump.cavitation += (cav_target - pump.cavitation) * min(1.0, h / _CAVITATION_TAU_S)
        hydraulic_kw = pump.flow / 3600.0 * (pump.discharge - pump.suction) * 100.0
        efficiency = max(0.3, _ETA_BEP * (1.0 - ((pump.flow - _Q_BEP) / _Q_BEP) ** 2))
        pump.shaft_kw = hydraulic_kw / efficiency + 2.0 * wear
        electric_w = pump.shaft_kw / _ETA_MOTOR * 1000.0
        pump.current = electric_w / (math.sqrt(3.0) * _VOLTS * _POWER_FACTOR)
        target_c = _bearing_target(pump.shaft_kw, wear)
        pump.bearing_c += (target_c - pump.bearing_c) * h / _BEARING_TAU_S

    def _compressor_step(self, h: float, t: float) -> None:
        c = self._compressor
        # a leak is an orifice: its free-air flow grows with the absolute pressure
        leak = (
            _LEAK_M3_MIN
            * self._level("air_leak", COMPRESSOR, t)
            * ((c.pressure + _P_ATM) / (7.0 + _P_ATM))
        )
        c.demand = _ou(c.demand, _DEMAND_MEAN, _DEMAND_SIGMA, _DEMAND_TAU_S, h, self._rng)
        c.demand = min(_DEMAND_HIGH, max(_DEMAND_LOW, c.demand))
        if c.loaded and c.pressure >= _UNLOAD_AT:
            c.loaded = False
        elif not c.loaded and c.pressure <= _LOAD_AT:
            c.loaded = True
        delivered = _FAD_M3_MIN if c.loaded else 0.0
        c.pressure += _P_ATM / _V_AIR_M3 * (delivered - c.demand - leak) / 60.0 * h
        c.pressure = max(0.0, c.pressure)
        current = 55.5 + 6.0 * (c.pressure - 6.5) if c.loaded else 23.0
        c.current += (current - c.current) * min(1.0, h / _CURRENT_TAU_S)
        heat = _HEAT_LOADED_KW if c.loaded else _HEAT_UNLOADED_KW
        cooler = 1.0 - _COOLER_FOULING_LOSS * min(1.0, self._level("cooler_fouling", COMPRESSOR, t))
        opening = min(1.0, max(0.05, (c.oil_c - _THERMOSTAT_C) / _THERMOSTAT_SPAN_K))
        hx_out = self._hx_outlet(t)
        removed = _UA_OIL_KW_K * cooler * opening * (c.oil_c - hx_out)
        c.oil_c += (heat - removed) / _OIL_CAPACITY_KJ_K * h
        c.loop_kw += (removed - c.loop_kw) * h / _LOOP_TAU_S
        rise = _DISCHARGE_RISE_LOADED_K if c.loaded else _DISCHARGE_RISE_UNLOADED_K
        c.discharge_c += (c.oil_c + rise - c.discharge_c) * min(1.0, h / _DISCHARGE_TAU_S)

    def _hx_outlet(self, t: float) -> float:
        fouling = self._level("cooler_fouling", EXCHANGER, t)
        duty = max(0.0, self._compressor.loop_kw) / _APPROACH_DUTY_KW
        return self._raw_water + _APPROACH_CLEAN_K * duty * (1.0 + _HX_FOULING_GAIN * fouling)

    # -- readings --------------------------------------------------------------------------

    @staticmethod
    def _emitted_tags(plant: PlantSpec) -> list[tuple[str, str, str]]:
        emitted = []
        for asset in plant.assets:
            if asset.id not in SIMULATED_ASSETS:
                continue
            for tag in asset.tags:
                if tag.id in _TAGS_OF[_kind(asset.id)]:
                    emitted.append((asset.id, tag.id, tag.unit))
        if not emitted:
            raise ConfigError(
                f"simulator: the plant declares none of the simulated assets "
                f"({', '.join(SIMULATED_ASSETS)}) with their tags"
            )
        return emitted

    def _true_values(self) -> dict[tuple[str, str], float]:
        values: dict[tuple[str, str], float] = {}
        duty_pump = self._pumps[self.duty]
        for pump_id, pump in self._pumps.items():
            wear = self._level("bearing_wear", pump_id, self.t) if pump.running else 0.0
            if pump.running:
                vibration = (
                    1.5
                    + 0.6 * ((pump.flow - _Q_BEP) / _Q_BEP) ** 2
                    + 4.8 * pump.cavitation
                    + 6.5 * wear
                    + abs(self._rng.gauss(0.0, 1.0)) * (0.6 * pump.cavitation + 0.3 * wear)
                )
            else:
                vibration = 0.1 + 0.05 * (duty_pump.flow / _Q_DESIGN)
            values[(pump_id, "discharge_pressure")] = pump.discharge
            values[(pump_id, "suction_pressure")] = pump.suction
            values[(pump_id, "flow")] = pump.flow
            values[(pump_id, "motor_current")] = pump.current
            values[(pump_id, "vibration")] = vibration
            values[(pump_id, "bearing_temp")] = pump.bearing_c
            k_strainer = self._strainer_k(pump_id, self.t)
            values[(STRAINERS[pump_id], "differential_pressure")] = k_strainer * pump.flow**2
        c = self._compressor
        values[(COMPRESSOR, "discharge_pressure")] = c.pressure
        values[(COMPRESSOR, "discharge_temp")] = c.discharge_c
        values[(COMPRESSOR, "motor_current")] = c.current
        values[(COMPRESSOR, "oil_temp")] = c.oil_c
        outlet = self._hx_outlet(self.t)
        values[(EXCHANGER, "outlet_temp")] = outlet
        values[(EXCHANGER, "inlet_temp")] = outlet + max(0.0, c.loop_kw) / _LOOP_FLOW_KW_K
        return values

    def _readings(self) -> list[Reading]:
        values = self._true_values()
        ts = self.start_ts + self.t
        readings = []
        for asset, tag, unit in self._emitted:
            value = values[(asset, tag)]
            stopped = asset in PUMPS and not self._pumps[asset].running
            if not (stopped and tag in ("flow", "motor_current")):
                key = f"c_{tag}" if asset == COMPRESSOR and f"c_{tag}" in _NOISE else tag
                value += self._rng.gauss(0.0, _NOISE[key])
            if tag == "vibration":
                value = abs(value)
            readings.append(Reading(asset, tag, round(value, 4), ts, unit))
        return readings


_TAGS_OF: dict[str, frozenset[str]] = {
    "pump": frozenset(
        {
            "discharge_pressure",
            "suction_pressure",
            "flow",
            "motor_current",
            "vibration",
            "bearing_temp",
        }
    ),
    "strainer": frozenset({"differential_pressure"}),
    "compressor": frozenset({"discharge_pressure", "discharge_temp", "motor_current", "oil_temp"}),
    "exchanger": frozenset({"inlet_temp", "outlet_temp"}),
}


def _kind(asset: str) -> str:
    if asset in PUMPS:
        return "pump"
    if asset in STRAINERS.values():
        return "strainer"
    return "compressor" if asset == COMPRESSOR else "exchanger"


def _operating_flow(well: float, phi: float, k_strainer: float) -> float:
    """Return the flow where pump head (scaled by phi) meets suction losses and system curve."""
    drive = well + _RHO_G * _H0 * phi - _P_STATIC
    resistance = _K_LINE + k_strainer + _RHO_G * _K_PUMP * phi + _R_SYSTEM
    return math.sqrt(drive / resistance) if drive > 0 else 0.0


def _bearing_target(shaft_kw: float, wear: float) -> float:
    return _ROOM_C + 2.0 + 30.0 * shaft_kw / _SHAFT_DESIGN_KW + 40.0 * wear


def _ou(x: float, mean: float, sigma: float, tau: float, h: float, rng: random.Random) -> float:
    """Advance an Ornstein-Uhlenbeck process (stationary deviation sigma, correlation time tau)."""
    decay = math.exp(-h / tau)
    return mean + (x - mean) * decay + sigma * math.sqrt(1.0 - decay * decay) * rng.gauss(0, 1)


def _ar1(x: float, tau: float, h: float, rng: random.Random) -> float:
    return _ou(x, 0.0, 0.5, tau, h, rng)


# ---------------------------------------------------------------------------------------------
# Fault specs and publishing

_SPEC = re.compile(
    r"^(?P<fault>[a-z_]+)@(?P<asset>[A-Za-z0-9_.-]+)"
    r"(?:(?:\+(?P<after>\d+(?:\.\d+)?)s?)|(?:=(?P<when>[^*~]+)))?"
    r"(?:\*(?P<severity>\d+(?:\.\d+)?))?(?:~(?P<ramp>\d+(?:\.\d+)?)s?)?$"
)


def parse_fault_spec(text: str) -> tuple[str, str, float | datetime, float, float | None]:
    """Parse ``FAULT@ASSET[+SECONDS|=ISO-TIME][*SEVERITY][~RAMP_S]`` for :meth:`inject`.

    Examples: ``cavitation@P-101+120``, ``bearing_wear@P-101=2026-05-04T14:30*0.8~900``.
    Return (fault, asset, at, severity, ramp_s); raise ConfigError if it does not parse.
    """
    match = _SPEC.match(text.strip())
    if match is None:
        raise ConfigError(
            f"bad fault spec '{text}': expected FAULT@ASSET[+SECONDS|=ISO-TIME][*SEVERITY][~RAMP]"
            ", e.g. cavitation@P-101+120"
        )
    at: float | datetime = 0.0
    if match["after"] is not None:
        at = float(match["after"])
    elif match["when"] is not None:
        try:
            at = datetime.fromisoformat(match["when"].strip())
        except ValueError as exc:
            raise ConfigError(f"bad fault spec '{text}': '{match['when']}' is not ISO") from exc
    severity = float(match["severity"]) if match["severity"] is not None else 1.0
    ramp = float(match["ramp"]) if match["ramp"] is not None else None
    return match["fault"], match["asset"], at, severity, ramp


def run_publisher(
    sim: PlantSimulator,
    plant: PlantSpec,
    publisher: Publisher,
    rate_hz: float = 1.0,
    duration_s: float | None = None,
    stop_event: threading.Event | None = None,
    speed: float = 1.0,
    *,
    qos: int = 1,
    clock: Callable[[], float] = time.time,
) -> PublishReport:
    """Step the simulator rate_hz times a second and publish every reading; return a report.

    Each tick advances the model by ``speed / rate_hz`` simulated seconds. ``duration_s`` is in
    wall-clock seconds (``duration_s * rate_hz`` ticks; None runs until ``stop_event`` is set).
    Payloads follow each tag's format and topic in ``plant``; JSON payloads carry a per-topic
    ``seq`` from 0 and the wall-clock time of their tick as ``ts`` (``clock()``), so at a speed
    above 1 the store sees a live plant whose hours pass in minutes and never a future time.
    If publishing falls behind, ticks follow each other without sleeping rather than piling up.
    ConnectorError from the publisher passes up.
    """
    if not rate_hz > 0 or math.isinf(rate_hz):
        raise ValueError(f"rate_hz must be a positive number, got {rate_hz}")
    if not speed > 0 or math.isinf(speed):
        raise ValueError(f"speed must be a positive number, got {speed}")
    writer = ReadingWriter(plant, publisher, qos=qos)
    stop = stop_event or threading.Event()
    ticks = None if duration_s is None else max(0, round(duration_s * rate_hz))
    period = 1.0 / rate_hz
    dt = speed / rate_hz
    steps = 0
    next_due = time.monotonic()
    while ticks is None or steps < ticks:
        if stop.is_set():
            break
        readings = sim.step(dt)
        stamp = clock()
        for reading in readings:
            writer.write(reading, stamp)
        steps += 1
        now = time.monotonic()
        next_due = max(next_due + period, now)
        delay = next_due - now
        if delay > 0 and (ticks is None or steps < ticks) and stop.wait(delay):
            break
    return PublishReport(
        steps=steps, published=writer.published, simulated_s=steps * dt, stopped=stop.is_set()
    )
