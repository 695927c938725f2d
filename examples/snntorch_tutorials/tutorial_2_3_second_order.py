"""snnTorch tutorials 2-3 (neuron dynamics): Lapicque, Leaky, Synaptic and Alpha neurons
driven by spike trains, unchanged but for the imports."""

# --- the only change from the tutorial
import spikeflow.compat.snntorch as snn
from spikeflow.compat.snntorch import spikegen
# ---

import torch

from _offline_data import QUICK

num_steps = 50 if QUICK else 200

# Lapicque's RC neuron with a step current
lif1 = snn.Lapicque(R=5, C=1e-3, time_step=1e-3)
mem = torch.ones(1) * 0.9
cur_in = torch.cat((torch.zeros(10, 1), torch.ones(num_steps - 10, 1) * 0.2), 0)
spk_rec, mem_rec = [], []
for step in range(num_steps):
    spk, mem = lif1(cur_in[step], mem)
    mem_rec.append(mem)
    spk_rec.append(spk)
mem_rec = torch.stack(mem_rec)
spk_rec = torch.stack(spk_rec)
print(f"Lapicque: {int(spk_rec.sum())} spikes, final membrane {mem_rec[-1].item():.3f}")

# Synaptic conductance-based neuron driven by a rate-coded spike train
alpha = 0.9
beta = 0.8
spk_period = torch.cat((torch.ones(1) * 0.2, torch.zeros(9)), 0)
spk_in = spk_period.repeat(num_steps // 10)
lif2 = snn.Synaptic(alpha=alpha, beta=beta)
syn, mem = lif2.init_synaptic()
spk_out, syn_rec, mem_rec = [], [], []
for step in range(num_steps):
    spk, syn, mem = lif2(spk_in[step], syn, mem)
    spk_out.append(spk)
    syn_rec.append(syn)
    mem_rec.append(mem)
print(f"Synaptic: {int(torch.stack(spk_out).sum())} spikes, peak current {torch.stack(syn_rec).max().item():.3f}")

# Alpha neuron
lif3 = snn.Alpha(alpha=alpha, beta=beta, threshold=0.5)
syn_exc, syn_inh, mem = lif3.init_alpha()
spk_out, mem_rec = [], []
for step in range(num_steps):
    spk, syn_exc, syn_inh, mem = lif3(spk_in[step], syn_exc, syn_inh, mem)
    spk_out.append(spk)
    mem_rec.append(mem)
print(f"Alpha: {int(torch.stack(spk_out).sum())} spikes, peak membrane {torch.stack(mem_rec).max().item():.3f}")

# A layer of Leaky neurons driven by rate-coded inputs
torch.manual_seed(0)
spk_in = spikegen.rate(torch.rand(784) * 0.5, num_steps=num_steps)
fc = torch.nn.Linear(784, 10)
lif4 = snn.Leaky(beta=0.9)
mem = lif4.init_leaky()
spk_rec = []
with torch.no_grad():
    for step in range(num_steps):
        spk, mem = lif4(fc(spk_in[step]), mem)
        spk_rec.append(spk)
print(f"Leaky layer: firing rate {torch.stack(spk_rec).mean().item():.3f}")
