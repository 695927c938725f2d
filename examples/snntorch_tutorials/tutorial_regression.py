"""snnTorch's regression tutorial (part I): a single-neuron layer trained so its membrane
follows a target trajectory, MSE on the membrane; unchanged but for the imports."""

# --- the only change from the tutorial
import spikeflow.compat.snntorch as snn
from spikeflow.compat.snntorch import surrogate
# ---

import torch
import torch.nn as nn

from _offline_data import QUICK

torch.manual_seed(0)
num_steps = 50
num_samples = 1
num_iter = 3 if QUICK else 300
hidden = 128
device = torch.device("cpu")


class RegressionDataset(torch.utils.data.Dataset):
    """Simple regression dataset: a linear ramp of the membrane over time."""

    def __init__(self, timesteps, num_samples):
        self.num_samples = num_samples
        feature_lin = torch.linspace(-1, 1, timesteps)
        self.features = feature_lin.view(timesteps, 1, 1)
        self.labels = feature_lin.view(timesteps, 1, 1)

    def __len__(self):
        return self.num_samples

    def __getitem__(self, idx):
        return self.features[:, :, 0], self.labels[:, :, 0]


class Net(torch.nn.Module):
    """simple spiking neural network in snntorch"""

    def __init__(self, timesteps, hidden):
        super().__init__()

        self.timesteps = timesteps  # number of time steps to simulate the network
        self.hidden = hidden  # number of hidden neurons
        spike_grad = surrogate.fast_sigmoid()  # surrogate gradient function

        # randomly initialize decay rate and threshold for layer 1
        beta_in = torch.rand(self.hidden)
        thr_in = torch.rand(self.hidden)

        # layer 1
        self.fc_in = torch.nn.Linear(in_features=1, out_features=self.hidden)
        self.lif_in = snn.Leaky(beta=beta_in, threshold=thr_in, learn_beta=True, spike_grad=spike_grad)

        # randomly initialize decay rate and threshold for layer 2
        beta_hidden = torch.rand(self.hidden)
        thr_hidden = torch.rand(self.hidden)

        # layer 2
        self.fc_hidden = torch.nn.Linear(in_features=self.hidden, out_features=self.hidden)
        self.lif_hidden = snn.Leaky(beta=beta_hidden, threshold=thr_hidden, learn_beta=True, spike_grad=spike_grad)

        # randomly initialize decay rate for output neuron
        beta_out = torch.rand(1)

        # layer 3: leaky integrator neuron. Note the reset mechanism is disabled and we will
        # disregard output spikes.
        self.fc_out = torch.nn.Linear(in_features=self.hidden, out_features=1)
        self.li_out = snn.Leaky(beta=beta_out, threshold=1.0, learn_beta=True, spike_grad=spike_grad,
                                reset_mechanism="none")

    def forward(self, x):
        """Forward pass for several time steps."""

        # Initalize membrane potential
        mem_1 = self.lif_in.init_leaky()
        mem_2 = self.lif_hidden.init_leaky()
        mem_3 = self.li_out.init_leaky()

        # Empty lists to record outputs
        mem_3_rec = []

        # Loop over
        for step in range(self.timesteps):
            x_timestep = x[step, :, :]

            cur_in = self.fc_in(x_timestep)
            spk_in, mem_1 = self.lif_in(cur_in, mem_1)

            cur_hidden = self.fc_hidden(spk_in)
            spk_hidden, mem_2 = self.lif_hidden(cur_hidden, mem_2)

            cur_out = self.fc_out(spk_hidden)
            _, mem_3 = self.li_out(cur_out, mem_3)

            mem_3_rec.append(mem_3)

        return torch.stack(mem_3_rec)


dataloader = torch.utils.data.DataLoader(dataset=RegressionDataset(timesteps=num_steps, num_samples=num_samples),
                                         batch_size=1)
model = Net(timesteps=num_steps, hidden=hidden).to(device)
optimizer = torch.optim.Adam(params=model.parameters(), lr=1e-3)
loss_function = torch.nn.MSELoss()

loss_hist = []
for i in range(num_iter):
    for feature, label in iter(dataloader):
        feature = feature.transpose(0, 1).unsqueeze(-1).to(device)  # [T, B, 1]
        label = label.transpose(0, 1).unsqueeze(-1).to(device)
        mem = model(feature)
        loss_val = loss_function(mem, label)
        optimizer.zero_grad()
        loss_val.backward()
        optimizer.step()
        loss_hist.append(loss_val.item())

print(f"iterations {num_iter}: loss {loss_hist[0]:.4f} -> {loss_hist[-1]:.4f}")
