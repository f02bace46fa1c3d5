"""Stand-in priors whose outputs are known exactly (shared by the distill tests)."""
import torch

from get3d.distill.analytic import scaled_linear_alphas_cumprod


class ConstantPrior:
    """A stub UNet with known outputs, linear in the embedding: each prompt embeds to a one-hot
    vector (the empty prompt to index 0, others in order of first use), and eps = sum_j emb_j E_j
    with fixed random E_j whatever x and t. So U = E_0 (empty), C = E_1 (the first prompt)."""

    def __init__(self, seed=0, size=4, prompts=8, channels=4):
        gen = torch.Generator().manual_seed(seed)
        self.E = torch.randn(prompts, channels, size, size, generator=gen)
        self.C, self.U = self.E[1:2], self.E[0:1]
        self.alphas_cumprod = scaled_linear_alphas_cumprod()
        self.image_size = 32
        self.ids = {"": 0}
        self.log = []  # (t [N], embeddings [N, P]) of every predict_noise call

    def encode(self, images):
        return images

    def decode(self, latents):
        return latents

    def embed_text(self, prompts):
        for p in prompts:
            self.ids.setdefault(p, len(self.ids))
        return torch.nn.functional.one_hot(torch.tensor([self.ids[p] for p in prompts]), self.E.shape[0]).float()

    def eps_of(self, prompt):
        return self.E[self.ids[prompt]].unsqueeze(0)

    def predict_noise(self, x, t, emb):
        self.log.append((t.detach().clone(), emb.detach().clone()))
        return torch.einsum("bk,kchw->bchw", emb.float(), self.E).expand_as(x).clone()
