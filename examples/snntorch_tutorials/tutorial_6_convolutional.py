"""snnTorch tutorial 6 (convolutional SNN): Conv-Pool-Leaky x2 + Linear-Leaky, surrogate
fast sigmoid, ``SF.ce_rate_loss``; unchanged but for the imports."""

# --- the only change from the tutorial
import spikeflow.compat.snntorch as snn
from spikeflow.compat.snntorch import surrogate, utils
import spikeflow.compat.snntorch.functional as SF
# ---

import torch
import torch.nn as nn

from _offline_data import QUICK, mnist_loaders

batch_size = 32 if QUICK else 128
train_loader, test_loader = mnist_loaders(batch_size)
device = torch.device("cpu")

# neuron and simulation parameters
spike_grad = surrogate.fast_sigmoid(slope=25)
beta = 0.5
num_steps = 3 if QUICK else 50

#  Initialize Network
net = nn.Sequential(nn.Conv2d(1, 12, 5),
                    nn.MaxPool2d(2),
                    snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
                    nn.Conv2d(12, 64, 5),
                    nn.MaxPool2d(2),
                    snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
                    nn.Flatten(),
                    nn.Linear(64 * 4 * 4, 10),
                    snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True)
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


loss_fn = SF.ce_rate_loss()
optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.9, 0.999))
num_epochs = 1
num_iters = 2 if QUICK else 50

loss_hist = []
acc_hist = []

# training loop
for epoch in range(num_epochs):
    for i, (data, targets) in enumerate(iter(train_loader)):
        data = data.to(device)
        targets = targets.to(device)

        net.train()
        spk_rec, _ = forward_pass(net, num_steps, data)
        loss_val = loss_fn(spk_rec, targets)

        # Gradient calculation + weight update
        optimizer.zero_grad()
        loss_val.backward()
        optimizer.step()

        # Store loss history for future plotting
        loss_hist.append(loss_val.item())
        acc = SF.accuracy_rate(spk_rec, targets)
        acc_hist.append(acc)

        # training loop breaks after num_iters iterations
        if i == num_iters:
            break

print(f"iterations {len(loss_hist)}, last loss {loss_hist[-1]:.3f}, last batch accuracy {acc_hist[-1] * 100:.2f}%")
