"""The distillation loss of OneBit (paper §3; onebitc docs ONEBIT.md §3):

    L = L_CE + α · L_MSE
    L_CE  = mean over tokens of the cross-entropy between the teacher's next-token distribution (soft labels,
            at temperature τ) and the student's
    L_MSE = Σ over layers of the mean over tokens of ‖h_s/‖h_s‖ − h_t/‖h_t‖‖², the squared distance summed over
            the hidden size (not averaged over it)
"""
import torch.nn.functional as F


def kd_loss(student_logits, teacher_logits, student_hidden, teacher_hidden, alpha=1.0, temperature=1.0):
    """Returns (loss, ce, mse), each a scalar tensor; logits [b, t, vocab], hidden lists of [b, t, hidden]."""
    targets = F.softmax(teacher_logits.float() / temperature, dim=-1)
    ce = -(targets * F.log_softmax(student_logits.float() / temperature, dim=-1)).sum(-1).mean()
    mse = sum(((F.normalize(s.float(), dim=-1) - F.normalize(t.float(), dim=-1)) ** 2).sum(-1).mean()
              for s, t in zip(student_hidden, teacher_hidden))
    return ce + alpha * mse, ce, mse
