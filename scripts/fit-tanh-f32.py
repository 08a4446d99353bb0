#!/usr/bin/env python3
"""The coefficients of `tanh_f32` (crates/zerotick-kernels/src/squash/single.rs).

Fits tanh(z)/z ~ P(s)/Q(s), s = z^2, deg P = M, deg Q = N, on [0, C] for relative error:
linearised least squares (Sanathanan-Koerner) with Lawson reweighting towards minimax,
in 40-digit mpmath; prints the coefficients, their f32 roundings, and the maximum
relative error of both over 20,000 points. Usage: fit-tanh-f32.py 4 4 9  (about 5 min).
Needs mpmath (pip install mpmath).
"""
import mpmath as mp, sys, struct
m, n, C = int(sys.argv[1]), int(sys.argv[2]), mp.mpf(sys.argv[3])
N = 1200
# grid in z, clustered at both ends
zs = [C*(1-mp.cos(mp.pi*(i+0.5)/N))/2 for i in range(N)]
ts = [mp.tanh(z) for z in zs]
w = [mp.mpf(1)]*N
qprev = [mp.mpf(1)]*N
def evalc(c, z):
    s = z*z
    P = sum(c[j]*s**j for j in range(m+1))
    Q = 1 + sum(c[m+j]*s**j for j in range(1, n+1))
    return P, Q
best=None
for it in range(60):
    rows=[]; rhs=[]
    for i,z in enumerate(zs):
        s=z*z; t=ts[i]
        f = mp.sqrt(w[i])/(t*qprev[i]) if z>0 else mp.sqrt(w[i])
        rows.append([f*z*s**j for j in range(m+1)] + [-f*t*s**j for j in range(1,n+1)])
        rhs.append(f*t)
    A = mp.matrix(rows); b = mp.matrix(rhs)
    c, res = mp.qr_solve(A, b)
    errs=[]
    for i,z in enumerate(zs):
        P,Q = evalc(c,z)
        qprev[i]=Q
        errs.append(abs(z*P/Q/ts[i]-1))
    mx = max(errs)
    if best is None or mx < best[0]: best=(mx, list(c))
    tot = sum(w[i]*errs[i] for i in range(N))
    w = [w[i]*errs[i]/tot*N for i in range(N)]
    if it%10==9: print(it, mp.nstr(mx,5), file=sys.stderr)
mx, c = best
# validate on fine grid
fine = [C*mp.mpf(i)/20000 for i in range(1,20001)]
vm = max(abs(z*evalc(c,z)[0]/evalc(c,z)[1]/mp.tanh(z)-1) for z in fine)
print("m n C", m, n, C, "fit max", mp.nstr(mx,5), "fine max", mp.nstr(vm,5), "1-tanh(C)", mp.nstr(1-mp.tanh(C),3))
print("P", [mp.nstr(x,20) for x in c[:m+1]])
print("Q", ["1"]+[mp.nstr(x,20) for x in c[m+1:]])
import struct
def f32(x): return mp.mpf(struct.unpack('f', struct.pack('f', float(x)))[0])
c32 = [f32(x) for x in c]
vm32 = max(abs(z*evalc(c32,z)[0]/evalc(c32,z)[1]/mp.tanh(z)-1) for z in fine)
print("f32 coeffs fine max", mp.nstr(vm32,5))
print("P32", [repr(float(x)) for x in c32[:m+1]])
print("Q32", [repr(float(x)) for x in c32[m+1:]])
