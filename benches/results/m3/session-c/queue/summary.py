"""Medians over interleaved runs: python3 summary.py M S D (file prefixes in this folder)."""
import json,glob,os,statistics as st,sys
HERE=os.path.dirname(os.path.abspath(__file__))
pre=sys.argv[1:] or ['M','S']
for p in pre:
  rows={}
  for f in sorted(glob.glob(f'{HERE}/{p}[0-9]*.json')):
    d=json.load(open(f))['results']
    for w in ['fire','sync','burst']:
      pb=d[w]['poolbridge']; 
      best=max(d[w][l]['jobs_per_s']['median'] for l in d[w] if l!='poolbridge')
      rows.setdefault(w,[]).append((pb['jobs_per_s']['median']/1e6, pb['jobs_per_s']['median']/best, pb['cpu_us_per_job']['median'], pb.get('bytes_per_job',{'median':0})['median']))
  for w,v in rows.items():
    print(p,w,'n=%d'%len(v),'Mjobs/s med %.2f'%st.median(x[0] for x in v),'ratio med %.2f [%s]'%(st.median(x[1] for x in v),' '.join('%.2f'%x[1] for x in v)),'cpu %.3f'%st.median(x[2] for x in v),'B/job %.0f'%st.median(x[3] for x in v))
