"""snnTorch's population-coding tutorial: 500 output neurons (50 per class),
``SF.mse_count_loss(population_code=True)`` and ``SF.accuracy_rate(population_code=True)``;
unchanged but for the imports."""

# --- the only change from the tutorial
import spikeflow.compat.snntorch as snn
from spikeflow.compat.snntorch import surrogate, utils
import spikeflow.compat.snntorch.functional as SF
# ---

import torch
import torch.nn as nn

from _offline_data import QUICK, mnist_loaders

batch_size = 128
train_loader, test_loader = mnist_loaders(batch_size)
device = torch.device("cpu")

# network parameters
num_inputs = 28 * 28
num_hidden = 128
num_outputs = 10
num_steps = 1

# spiking neuron parameters
beta = 0.9  # neuron decay rate
grad = surrogate.fast_sigmoid()

pop_outputs = 500

net_pop = nn.Sequential(nn.Flatten(),
                        nn.Linear(num_inputs, num_hidden),
                        snn.Leaky(beta=beta, spike_grad=grad, init_hidden=True),
                        nn.Linear(num_hidden, pop_outputs),
                        snn.Leaky(beta=beta, spike_grad=grad, init_hidden=True, output=True)
                        ).to(device)

loss_fn = SF.mse_count_loss(correct_rate=1.0, incorrect_rate=0.0, population_code=True, num_classes=10)
optimizer = torch.optim.Adam(net_pop.parameters(), lr=2e-3, betas=(0.9, 0.999))


def test_accuracy(data_loader, net, num_steps, population_code=False, num_classes=False):
    with torch.no_grad():
        total = 0
        acc = 0
        net.eval()

        data_loader = iter(data_loader)
        for data, targets in data_loader:
            data = data.to(device)
            targets = targets.to(device)
            utils.reset(net)
            spk_rec, _ = net(data)

            if population_code:
                acc += SF.accuracy_rate(spk_rec.unsqueeze(0), targets, population_code=True,
                                        num_classes=10) * spk_rec.size(1)
            else:
                acc += SF.accuracy_rate(spk_rec.unsqueeze(0), targets) * spk_rec.size(1)

            total += spk_rec.size(1)

    return acc / total


num_epochs = 1 if QUICK else 5

# training loop
for epoch in range(num_epochs):
    avg_loss = 0.0
    for data, targets in iter(train_loader):
        data = data.to(device)
        targets = targets.to(device)

        net_pop.train()
        utils.reset(net_pop)
        spk_rec, _ = net_pop(data)
        loss_val = loss_fn(spk_rec.unsqueeze(0), targets)
        avg_loss += loss_val.item()

        optimizer.zero_grad()
        loss_val.backward()
        optimizer.step()

    print(f"Epoch {epoch}, loss {avg_loss / len(train_loader):.4f}, test accuracy "
          f"{test_accuracy(test_loader, net_pop, num_steps, population_code=True, num_classes=10) * 100:.2f}%")
