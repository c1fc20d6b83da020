import json
A=[
("6 yr old with a cold and runny nose - how much Triaminic syrup per dose?", ["2 teaspoonfuls (10 mL)","6 to under 12 years of age 2 teaspoonfuls"], ["haloperidol","sildenafil","atorvastatin"]),
("Haldol for a 9-year-old with Tourette's - what mg/kg/day range does the label give?", ["0.05 mg/kg/day to 0.075 mg/kg/day"], ["sildenafil","adalimumab","atorvastatin"]),
("pt stable on haloperidol just started rifampin for TB. what happens to haloperidol levels?", ["plasma haloperidol levels were decreased by a mean of 70%","decreased by a mean of 70%"], ["atorvastatin","LIPITOR"]),
("New mom on haloperidol wants to breastfeed - ok?", ["Infants should not be nursed during drug treatment"], ["atorvastatin","LIPITOR","adalimumab"]),
("HIV patient on ritonavir asks for viagra. max dose?", ["maximum single dose of 25 mg of VIAGRA in a 48 hour period","recommended maximum dose is 25 mg within a 48 hour period","maximum single dose of 25 mg in a 48 hour period"], ["atorvastatin","LIPITOR"]),
("Can sildenafil be given to someone taking riociguat (Adempas)?", ["Administration with guanylate cyclase (GC) stimulators","patients who are using a GC stimulator"], ["atorvastatin","adalimumab"]),
("viagra overdose - will dialysis help clear it?", ["Renal dialysis is not expected to accelerate clearance"], ["LIPITOR","atorvastatin"]),
("lipitor + clarithromycin: what is the atorvastatin dose ceiling?", ["Do not exceed 20 mg atorvastatin daily","caution should be used when the LIPITOR dose exceeds 20 mg"], ["sildenafil","VIAGRA"]),
("does atorvastatn need a dose adjustment in CKD / renal impairment?", ["dosage adjustment in patients with renal dysfunction is not necessary","Renal disease does not affect the plasma concentrations"], ["sildenafil","VIAGRA"]),
("Humira for ulcerative colitis - by when must the patient show remission to keep going?", ["clinical remission by eight weeks (Day 57)"], ["atorvastatin","sildenafil"]),
("adalimumab dose for a 7 yo with polyarticular JIA who weighs 22 kg", ["20 mg every other week"], ["atorvastatin","sildenafil"]),
("Pt on oxycodone for 4 yrs wants to come off. How fast should the taper go per CDC 2022?", ["tapers of 10% per month or slower are","approximately 10% per month or slower are likely"], []),
("MME conversion factor for a fentanyl patch in the CDC 2022 table?", ["Fentanyl transdermal (in mcg/hr) 2.4"], []),
("CDC opioid guideline: is methadone a good first choice for an ER/LA opioid?", ["Methadone should not be the first"], []),
("WHO core components of IPC: minimum infection preventionist staffing per number of beds?", ["preventionist (nurse or doctor) per 250 beds","per 250 beds (37) should be available"], []),
("WHO 2016 IPC guideline - what is the standard for bed occupancy?", ["one patient per bed with adequate spacing","standard for bed occupancy to be one patient per bed","Standards for bed occupancy should be one patient per"], []),
("IgM-enriched IVIG for late-onset sepsis in VLBW neonates: what dose was used and did short-term mortality change?", ["250 mg/kg/day iv for three days","reduced short-term mortality was found in treated infants"], []),
("alendronate in postmenopausal women with low BMD but no vertebral fracture: effect on radiographic vertebral fractures?", ["radiographic vertebral fractures by 44% overall"], []),
("risedronate 5 mg/d in established postmenopausal osteoporosis - reduction in nonvertebral fractures over 3 yrs?", ["nonvertebral fractures over 3 years was reduced by 39%"], []),
("which genes cause hyperphosphatemic familial tumoral calcinosis?", ["Mutations in the FGF23, GALNT3, or KL gene"], []),
]
U=[
"my son is 14 - how many mL of Triaminic cough & runny nose can he take per dose?",
"haloperidol decanoate monthly IM dose when converting from oral haloperidol?",
"Revatio (sildenafil) dose for pulmonary arterial hypertension?",
"Lipitor starting dose for an 8 year old with heterozygous FH?",
"humira dosing for hidradenitis suppurativa",
"Cialis max dose in a man taking tamsulosin?",
"What naloxone nasal spray dose in mg does the CDC 2022 guideline say to prescribe?",
"WHO 2016 IPC core components: what alcohol concentration should alcohol-based handrub contain?",
"sodium thiosulfate dose for calcinosis cutis in juvenile dermatomyositis?",
"zoledronic acid once-yearly IV dose for postmenopausal osteoporosis?",
]
rows=[{"q":q,"answered":True,"expect_any":e,"forbid_any":f} for q,e,f in A]+[{"q":q,"answered":False,"expect_any":[],"forbid_any":[]} for q in U]
import random; random.Random(3).shuffle(rows)
with open("questions.jsonl","w") as o:
    for r in rows: o.write(json.dumps(r, ensure_ascii=False)+"\n")
print(len(rows))
