"""Medians over interleaved runs: python3 summary.py DIR PREFIX... (M: 711e913; F2: the queue and search commit; W: plus the weak reference of a detached job). For ../recent: python3 summary.py ../recent M F2 W."""
import json,glob,os,statistics as st,sys
d=sys.argv[1]; pre=sys.argv[2:]
W0={'roundtrip':['p50_us','p99_us','mean_us','cpu_us_per_job'],'burst':['jobs_per_s','cpu_us_per_job','rss_growth_mib'],'sync':['jobs_per_s','cpu_us_per_job'],'fire':['jobs_per_s','cpu_us_per_job']}
W={k:v for k,v in W0.items() if k in set(json.load(open(glob.glob(sys.argv[1]+'/*.json')[0]))['results'])}
HIGH={'jobs_per_s'}
for p in pre:
  files=sorted(glob.glob(f'{d}/{p}[0-9]*.json'))
  for w,ms in W.items():
    for m in ms:
      vals=[];ratios=[];bestl=[]
      for f in files:
        r=json.load(open(f))['results'][w]
        pb=r['poolbridge'][m]['median']
        others={l:r[l][m]['median'] for l in r if l!='poolbridge' and m in r[l]}
        bl=(max if m in HIGH else min)(others,key=others.get)
        vals.append(pb);ratios.append(pb/others[bl]);bestl.append(bl)
      print(f'{p} {w} {m}: median {st.median(vals):.4g} [{" ".join("%.3g"%v for v in vals)}]  ÷best median {st.median(ratios):.2f} [{" ".join("%.2f"%v for v in ratios)}] ({",".join(sorted(set(bestl)))})')
