"""The planted redaction cases and the plant text that must come through untouched.

``PLANTED`` holds (kind, text, expected) triples: personal data of each kind planted in
floor text, and exactly what must remain. ``CLEAN`` holds (category, text) pairs of plant
data (tag, asset, work-order and part ids, torques, dates, versions, telemetry, roster
look-alikes) that must not change at all. ``python -m tests.sync.redaction_cases`` prints
the score line for the record: ``N of M planted caught, T of K clean touched``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from assistant.settings import SyncSettings
from assistant.sync.redact import RedactionReport, Redactor

ROSTER = (
    "Dana Reyes",
    "Lee Okafor",
    "José Núñez",
    "Kim Sørensen",
    "Max Weber",
    "Ana Lima",
    "François Lefèvre",
    "Małgorzata Wójcik",
    "Siobhán O'Neill",
    "Zoë",
)

PLANTED: tuple[tuple[str, str, str], ...] = (
    # names: full, parts, any case, accents either way, short names as written
    ("name", "ask Dana Reyes", "ask [NAME]"),
    ("name", "DANA REYES said so", "[NAME] said so"),
    ("name", "tell Okafor", "tell [NAME]"),
    ("name", "Lee  Okafor", "[NAME]"),
    ("name", "reyes closed V-101", "[NAME] closed V-101"),
    ("name", "Jose Nunez signed the permit", "[NAME] signed the permit"),
    ("name", "José Núñez signed", "[NAME] signed"),
    ("name", "JOSÉ NÚÑEZ on shift", "[NAME] on shift"),
    ("name", "nunez checked P-101", "[NAME] checked P-101"),
    ("name", "Jose\u0301 Nu\u0301n\u0303ez was here", "[NAME] was here"),
    ("name", "Réunion: José Núñez, 3 items", "Réunion: [NAME], 3 items"),
    ("name", "Kim Sorensen (night shift)", "[NAME] (night shift)"),
    ("name", "Sørensen approved", "[NAME] approved"),
    ("name", "ask Lee about it", "ask [NAME] about it"),
    ("name", "Kim said the valve stuck", "[NAME] said the valve stuck"),
    ("name", "Max Weber and Ana Lima", "[NAME] and [NAME]"),
    ("name", "Weber's note on P-102", "[NAME]'s note on P-102"),
    ("name", "handover to Francois Lefevre.", "handover to [NAME]."),
    ("name", "Lefèvre, F.", "[NAME], F."),
    ("name", "Malgorzata Wojcik", "[NAME]"),
    ("name", "Siobhan O\u2019Neill on call", "[NAME] on call"),
    ("name", "Zoe and Zoë", "[NAME] and [NAME]"),
    # e-mail addresses, plain and obfuscated
    ("email", "mail dana.reyes@riverbend.example now", "mail [EMAIL] now"),
    ("email", "ops+alerts@plant.example.co.uk.", "[EMAIL]."),
    ("email", "j.doe(at)plant-example.com", "[EMAIL]"),
    ("email", "write to jdoe(at)riverbend", "write to [EMAIL]"),
    ("email", "jdoe [at] riverbend [dot] org", "[EMAIL]"),
    ("email", "jdoe at riverbend dot org", "[EMAIL]"),
    ("email", "JDOE(AT)RIVERBEND.EXAMPLE, thanks", "[EMAIL], thanks"),
    # IBANs (valid mod-97), grouped or compact, any case
    ("iban", "pay DE89 3704 0044 0532 0130 00 now", "pay [IBAN] now"),
    ("iban", "GB29 NWBK 6016 1331 9268 19", "[IBAN]"),
    ("iban", "IBAN FR1420041010050500013M02606.", "IBAN [IBAN]."),
    ("iban", "NL91ABNA0417164300", "[IBAN]"),
    ("iban", "to ES9121000418450200051332 please", "to [IBAN] please"),
    ("iban", "CH9300762011623852957", "[IBAN]"),
    ("iban", "be68 5390 0754 7034", "[IBAN]"),
    ("iban", "IT60X0542811101000000123456; NO9386011117947", "[IBAN]; [IBAN]"),
    # national ids (default patterns)
    ("national_id", "SSN 123-45-6789", "SSN [NATIONAL_ID]"),
    ("national_id", "NI number AB 12 34 56 C", "NI number [NATIONAL_ID]"),
    ("national_id", "NI: JG103759A", "NI: [NATIONAL_ID]"),
    ("national_id", "NIR 1 85 05 78 006 084 36", "NIR [NATIONAL_ID]"),
    ("national_id", "DNI 12345678Z", "DNI [NATIONAL_ID]"),
    ("national_id", "NIE X1234567L", "NIE [NATIONAL_ID]"),
    ("national_id", "CF RSSMRA85T10A562S", "CF [NATIONAL_ID]"),
    ("national_id", "nr 85.07.30-033.28", "nr [NATIONAL_ID]"),
    # long digit runs: phone numbers without separators, account and id numbers
    ("digits", "call 0151234567 after 6", "call [DIGITS] after 6"),
    ("digits", "mobile 07700900123", "mobile [DIGITS]"),
    ("digits", "ring 5550142678.", "ring [DIGITS]."),
    ("digits", "0049151234567890", "[DIGITS]"),
    ("digits", "account 123456789", "account [DIGITS]"),
    ("digits", "BSN 111222333", "BSN [DIGITS]"),
    ("digits", "Steuer-ID 12345678901", "Steuer-ID [DIGITS]"),
    ("digits", "PESEL: 44051401359, ok", "PESEL: [DIGITS], ok"),
    # phone numbers with separators or +
    ("phone", "call +1 (555) 010-2040.", "call [PHONE]."),
    ("phone", "call 555-0142 67", "call [PHONE]"),
    ("phone", "call 0151 2345678", "call [PHONE]"),
    ("phone", "call +4915123456789", "call [PHONE]"),
    ("phone", "London +44 20 7946 0958", "London [PHONE]"),
    # badge and employee ids
    ("badge", "badge 40217 on shift", "[BADGE] on shift"),
    ("badge", "Employee ID: 88213", "[BADGE]"),
    ("badge", "id EMP-88213", "id [BADGE]"),
    # IP addresses
    ("ip", "from 10.20.3.44", "from [IP]"),
    ("ip", "from fe80::1:2:3 and 2001:db8:0:0:0:0:2:1", "from [IP] and [IP]"),
    # street addresses
    ("address", "lives at 12 Main Street, Springfield", "lives at [ADDRESS], Springfield"),
    ("address", "221B Baker St.", "[ADDRESS]"),
    ("address", "1600 Pennsylvania Avenue NW", "[ADDRESS] NW"),
    ("address", "Hauptstraße 12, 10115 Berlin", "[ADDRESS], 10115 Berlin"),
    ("address", "Musterstr. 5a", "[ADDRESS]"),
    ("address", "Kerkstraat 7", "[ADDRESS]"),
    ("address", "Berliner Straße 45", "[ADDRESS]"),
    ("address", "12 rue de la Paix, Paris", "[ADDRESS], Paris"),
    ("address", "Calle Mayor 5", "[ADDRESS]"),
    ("address", "Via Roma 12", "[ADDRESS]"),
    ("address", "PO Box 1234", "[ADDRESS]"),
)

CLEAN: tuple[tuple[str, str], ...] = (
    # tag and asset ids
    ("tag", "P-101 flow 4.12 m3/h at 14:59:05 UTC on 2026-11-23, limit 0.35 bar"),
    ("tag", "FT-2031A and TIC-4410.PV read high; loop 11-PT-4401"),
    ("tag", "breaker 4B in cubicle 12, valve V-101A, strainer ST-101"),
    ("asset", "asset A-000123456 on line 3"),
    ("asset", "asset 100234567 is the spare motor"),
    ("asset", "AST-2026-000451 moved to store"),
    # work orders
    ("work_order", "work order WO-20261123-0001 closed"),
    ("work_order", "order 4500012345 raised for the seal kit"),
    ("work_order", "see WO#123456789 and PO: 4500098765"),
    # part numbers
    ("part", "part 6205-2RS, bearing 6309-2Z/C3, seal SKF 22220 E"),
    ("part", "P/N 100234567 in bin 4"),
    ("part", "part no. 123456789012 ordered"),
    ("part", "serial SN 987654321, lot 202611230001"),
    ("part", "material: 000000004711, PN 4471-0032"),
    # torques and quantities
    ("torque", "tighten to 85 N·m in 3 passes"),
    ("torque", "torque 120 Nm ±5%, then 85 N·m"),
    ("telemetry", "range 0.05-0.2 bar; 12.35 14.20 bar; 1,200 rpm; 3600 samples"),
    ("telemetry", "totaliser 123456789 m3 and energy 1234567890 kWh"),
    ("telemetry", "counter 3600000000 cycles; 0.364 bar; -12.5 °C"),
    ("telemetry", "[T1] ST-101 Differential pressure: 0.364 bar, HI ALARM"),
    ("telemetry", "flow total 1,234,567,890 l since commissioning"),
    ("telemetry", "meter 123456789 read at 06:00; setpoint 350000000 Pa"),
    ("asset", "SAP equipment 10001234567, PN 4471-0032"),
    # dates and timestamps
    ("date", "2026-11-23, 23.11.2026 14:59 and 11/23/2026"),
    ("date", "2026-11-23T14:59:05Z and 2026-11-23T14:59:05.123+01:00"),
    ("date", "20261123T145905Z"),
    ("date", "logged 20261123145905"),
    ("date", "ts 1732370000 and 1732370000123 ms"),
    ("date", "ts 1732370000.5"),
    # versions
    ("version", "firmware v2.14.3, build 10.0.19045.3693"),
    ("version", "firmware 2.1.0.7 on the PLC"),
    ("version", "version 2024.11.123456789 of the HMI"),
    # look-alikes of roster names and of the detectors
    ("name_like", "Leeway and Danaher are not names on the roster"),
    ("name_like", "max 4.5 bar on the lee side; kim is not a word"),
    ("name_like", "Limaçon cam and Weberian units"),
    ("address_like", "Replace 2 Drive belts, then Step 3 Place the guard"),
    ("address_like", "Bearing 2, O-Ring 3 and Instr. 5"),
    ("address_like", "Motor 1 Drive End bearing; Pump 3 Discharge Line"),
    ("address_like", "Line 2 Main Drive motor tripped; conveyor 4 Return Way belt"),
    ("email_like", "pump at station 3 and the gate at 4"),
    ("iban_like", "serial DE89370400440532013001 and tag NL12ABCD0123456789"),
    ("iban_like", "XY891234567890 is a test rig id"),
    ("id_like", "12345678 parts; 2026-11-23; 555-01"),
)


@dataclass(frozen=True, slots=True)
class Score:
    """How the redactor did on the cases."""

    planted: int
    caught: int
    clean: int
    touched: int
    by_kind: dict[str, tuple[int, int]]
    by_category: dict[str, tuple[int, int]]
    misses: list[str]

    def line(self) -> str:
        """Return the one-line score for the record."""
        return (
            f"{self.caught} of {self.planted} planted caught, "
            f"{self.touched} of {self.clean} clean touched"
        )


def redactor() -> Redactor:
    """Return the redactor of the cases: the default patterns with the cases' roster."""
    return Redactor.from_settings(SyncSettings(roster=ROSTER))


def score(subject: Redactor) -> Score:
    """Run every case; a planted case is caught when the output is exactly as expected."""
    planted: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    clean: Counter[str] = Counter()
    touched: Counter[str] = Counter()
    misses = []
    for kind, text, expected in PLANTED:
        planted[kind] += 1
        report = RedactionReport()
        got = subject.text(text, report)
        if got == expected and report.counts[kind] == expected.count(f"[{kind.upper()}]"):
            caught[kind] += 1
        else:
            misses.append(f"{kind}: {text!r} -> {got!r} ({dict(report.counts)})")
    for category, text in CLEAN:
        clean[category] += 1
        report = RedactionReport()
        got = subject.text(text, report)
        if got != text or report.total:
            touched[category] += 1
            misses.append(f"clean {category}: {text!r} -> {got!r}")
    return Score(
        planted=len(PLANTED),
        caught=sum(caught.values()),
        clean=len(CLEAN),
        touched=sum(touched.values()),
        by_kind={k: (caught[k], n) for k, n in planted.items()},
        by_category={k: (touched[k], n) for k, n in clean.items()},
        misses=misses,
    )


if __name__ == "__main__":
    result = score(redactor())
    for kind, (hit, total) in result.by_kind.items():
        print(f"planted {kind:12} {hit:3} of {total:3} caught")
    for category, (hit, total) in result.by_category.items():
        print(f"clean   {category:12} {hit:3} of {total:3} touched")
    for miss in result.misses:
        print("MISS", miss)
    print(result.line())
