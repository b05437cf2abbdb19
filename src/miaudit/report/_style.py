"""The report's stylesheet, inlined into every page (the report is one self-contained file)."""

CSS = """
:root { --fg:#1f2328; --muted:#59636e; --border:#d8dee4; --zebra:#f6f8fa; --head:#eef1f4;
        --accent:#0969da; --bad:#a40e26; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--fg); background: #fff; max-width: 1200px; margin: 2rem auto;
       padding: 0 1.25rem; line-height: 1.5; font-size: 15px; }
h1 { font-size: 1.7rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 .6rem; padding-bottom: .3rem;
     border-bottom: 1px solid var(--border); }
h3 { font-size: 1.02rem; margin: 1.2rem 0 .4rem; }
p { margin: .4rem 0; max-width: 95ch; }
.meta { color: var(--muted); margin: 0; }
.small { color: var(--muted); font-size: .78rem; }
.mono, td.num { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono",
                monospace; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: .86rem; margin: .5rem 0 1rem; }
th, td { padding: .32rem .6rem; border-bottom: 1px solid var(--border); text-align: left;
         vertical-align: top; }
thead th { background: var(--head); font-weight: 600; white-space: nowrap; }
thead tr.group th { text-align: center; border-bottom: 2px solid #fff; }
tbody tr:nth-child(even) { background: var(--zebra); }
td.num, th.num { text-align: right; white-space: nowrap; }
.ci { display: block; color: var(--muted); font-size: .78em; }
tr.failed td.err { color: var(--bad); }
table.attacks { width: 100%; }
table.attacks thead th { white-space: normal; vertical-align: bottom; }
table.attacks td.attack { min-width: 14rem; max-width: 18rem; overflow-wrap: anywhere; }
td.attack .knows { display: block; color: var(--muted); font-size: .8em; white-space: nowrap; }
table.threat td.paper { min-width: 16rem; }
table.kv th { background: none; font-weight: 600; width: 14rem; white-space: nowrap; }
.verdict { border-left: 4px solid var(--accent); background: #f1f7ff; padding: .7rem 1rem;
           margin: .8rem 0 1rem; }
.verdict p { margin: .25rem 0; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px;
          margin-right: .4em; vertical-align: -.05em; }
figure { margin: 1rem 0 1.4rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--border); border-radius: 4px; }
figcaption { color: var(--muted); font-size: .86rem; max-width: 95ch; margin-top: .35rem; }
details { margin: .5rem 0; }
summary { cursor: pointer; color: var(--accent); }
pre { background: var(--zebra); padding: .7rem; border-radius: 4px; overflow-x: auto;
      font-size: .8rem; }
.member { color: var(--bad); font-weight: 600; }
footer { margin: 3rem 0 1rem; }
@media print { body { max-width: none; } summary { color: inherit; } }
"""
