"""snnTorch tutorial 7 style: an ``nn.Sequential`` SNN with ``init_hidden=True``, the BPTT
training loop with ``utils.reset(net)``, ``SF.ce_rate_loss`` and ``SF.accuracy_rate``, and
``backprop.BPTT``; unchanged but for the imports."""

# --- the only change from the tutorial
import spikeflow.compat.snntorch as snn
from spikeflow.compat.snntorch import backprop, surrogate, utils
import spikeflow.compat.snntorch.functional as SF
# ---

import torch
import torch.nn as nn

from _offline_data import QUICK, mnist_loaders

batch_size = 128
train_loader, test_loader = mnist_loaders(batch_size)
device = torch.device("cpu")

spike_grad = surrogate.fast_sigmoid(slope=25)
beta = 0.5
num_steps = 5 if QUICK else 25

net = nn.Sequential(
    nn.Flatten(),
    nn.Linear(28 * 28, 300),
    snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
    nn.Linear(300, 10),
    snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True),
).to(device)


def forward_pass(net, num_steps, data):
    mem_rec = []
    spk_rec = []
    utils.reset(net)  # resets hidden states for all LIF neurons in net

    for step in range(num_steps):
        spk_out, mem_out = net(data)
        spk_rec.append(spk_out)
        mem_rec.append(mem_out)

    return torch.stack(spk_rec), torch.stack(mem_rec)


optimizer = torch.optim.Adam(net.parameters(), lr=2e-2, betas=(0.9, 0.999))
loss_fn = SF.ce_rate_loss()

num_epochs = 1
loss_hist = []
for epoch in range(num_epochs):
    for i, (data, targets) in enumerate(iter(train_loader)):
        data = data.to(device)
        targets = targets.to(device)

        net.train()
        spk_rec, _ = forward_pass(net, num_steps, data)

        # initialize the loss & sum over time
        loss_val = loss_fn(spk_rec, targets)

        # Gradient calculation + weight update
        optimizer.zero_grad()
        loss_val.backward()
        optimizer.step()
        loss_hist.append(loss_val.item())

with torch.no_grad():
    acc = [SF.accuracy_rate(forward_pass(net, num_steps, d)[0], t) for d, t in test_loader]
print(f"first loss {loss_hist[0]:.3f}, last loss {loss_hist[-1]:.3f}, test accuracy {100 * sum(acc) / len(acc):.2f}%")

# the same training with snnTorch's helper (time-static data: num_steps given, time_var=False)
avg_loss = backprop.BPTT(net, train_loader, optimizer=optimizer, criterion=loss_fn, num_steps=num_steps,
                         time_var=False, device=device)
print(f"backprop.BPTT epoch loss {avg_loss.item():.3f}")
