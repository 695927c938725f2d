"""A recurrent SNN with snnTorch's spiking LSTM (``snn.SLSTM``) and a Leaky readout, trained
per step on sequences (the rows of scikit-learn's 8x8 digits as 8 time steps); unchanged
snnTorch code but for the imports."""

# --- the only change from snnTorch code
import spikeflow.compat.snntorch as snn
from spikeflow.compat.snntorch import surrogate
import spikeflow.compat.snntorch.functional as SF
# ---

import torch
import torch.nn as nn

from _offline_data import QUICK, digits_loaders

torch.manual_seed(0)
batch_size = 64
train_loader, test_loader = digits_loaders(batch_size)
num_inputs, num_hidden, num_outputs = 8, 64, 10
spike_grad = surrogate.fast_sigmoid(slope=5)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.slstm1 = snn.SLSTM(num_inputs, num_hidden, spike_grad=spike_grad, threshold=0.2,
                                reset_mechanism="subtract")
        self.fc2 = nn.Linear(num_hidden, num_outputs)
        self.lif2 = snn.Leaky(beta=0.9, spike_grad=spike_grad)

    def forward(self, x):
        syn1, mem1 = self.slstm1.init_slstm()
        mem2 = self.lif2.init_leaky()
        spk2_rec, mem2_rec = [], []
        for step in range(x.size(0)):  # x: [T, B, features]
            spk1, syn1, mem1 = self.slstm1(x[step], syn1, mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec), torch.stack(mem2_rec)


net = Net()
loss_fn = SF.ce_count_loss()
optimizer = torch.optim.Adam(net.parameters(), lr=5e-3)
num_epochs = 1 if QUICK else 15

for epoch in range(num_epochs):
    for data, targets in train_loader:
        spk_rec, _ = net(data.transpose(0, 1))  # rows over time: [8, B, 8]
        loss_val = loss_fn(spk_rec, targets)
        optimizer.zero_grad()
        loss_val.backward()
        optimizer.step()

with torch.no_grad():
    acc = [SF.accuracy_rate(net(d.transpose(0, 1))[0], t) for d, t in test_loader]
print(f"last loss {loss_val.item():.3f}, test accuracy {100 * sum(acc) / len(acc):.2f}%")
